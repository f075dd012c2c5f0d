//! Writing to stdout without panicking when the reader goes away (`tollgate … | head`).

use std::io::{ErrorKind, Write};

/// Prints `text` to stdout; a closed pipe is not an error.
pub fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
