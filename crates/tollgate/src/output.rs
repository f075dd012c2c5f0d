//! Writing to stdout without panicking when the reader goes away (`tollgate … | head`).

use std::io::{ErrorKind, Write};

/// Prints `text` to stdout. A closed pipe is not an error: returns `Ok(false)` so a caller
/// producing more output can stop; `Ok(true)` when written.
pub fn print(text: &str) -> std::io::Result<bool> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e),
    }
}
