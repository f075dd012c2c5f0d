//! Opening inputs (files, gzip, stdin) and cutting them into line-aligned chunks.

use std::fs::File;
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

/// Target size of a [`Chunk`] produced by [`ChunkReader::new`]: 1 MiB.
pub const DEFAULT_CHUNK_SIZE: usize = 1 << 20;

/// An input that could not be opened or read; names the path (`-` for stdin).
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {source}")]
pub struct InputError {
    /// The path as given to [`open_input`].
    pub path: String,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

/// A shared counter of bytes read, for progress bars. Cheap to clone; all clones see the same
/// value.
#[derive(Debug, Clone, Default)]
pub struct ByteCounter(Arc<AtomicU64>);

impl ByteCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes counted so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self, n: usize) {
        self.0.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// A reader that adds every byte it reads to a [`ByteCounter`].
#[derive(Debug)]
pub struct CountingReader<R> {
    inner: R,
    counter: ByteCounter,
}

impl<R> CountingReader<R> {
    /// Wraps `inner`, counting into `counter`.
    pub fn new(inner: R, counter: ByteCounter) -> Self {
        CountingReader { inner, counter }
    }

    /// The counter this reader adds to.
    pub fn counter(&self) -> &ByteCounter {
        &self.counter
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.add(n);
        Ok(n)
    }
}

/// Adds the path to read errors (a corrupt gzip member is only found while reading).
struct NamedErrors<R> {
    inner: R,
    path: Arc<str>,
}

impl<R: Read> Read for NamedErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path)))
    }
}

/// An opened input with what a progress display needs.
pub struct Input {
    /// The decoded byte stream (decompressed if the input is gzip).
    pub reader: Box<dyn Read + Send>,
    /// Bytes read from the underlying file or stdin so far: **compressed** bytes for gzip
    /// inputs, so it can be compared with [`Input::total_bytes`].
    pub progress: ByteCounter,
    /// Size of the file on disk, if known (`None` for stdin and non-regular files).
    pub total_bytes: Option<u64>,
    /// Whether the input was detected as gzip.
    pub gzip: bool,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("progress", &self.progress)
            .field("total_bytes", &self.total_bytes)
            .field("gzip", &self.gzip)
            .finish_non_exhaustive()
    }
}

/// Opens a log input: a path, or `-` for stdin.
///
/// gzip is detected by its magic bytes (`1f 8b`), not by the file name, and may consist of
/// several concatenated members (as `cat a.gz b.gz` or logrotate produce); everything else is
/// read as plain text.
///
/// # Errors
/// [`InputError`] naming the path if it cannot be opened, is a directory, or its first bytes
/// cannot be read. Later read errors (such as corrupt gzip data) come from the returned reader
/// and also name the path.
pub fn open_input(path: &str) -> Result<Box<dyn Read + Send>, InputError> {
    open_input_with_progress(path).map(|i| i.reader)
}

/// Like [`open_input`], also returning a progress counter and the input's size.
///
/// # Errors
/// As [`open_input`].
pub fn open_input_with_progress(path: &str) -> Result<Input, InputError> {
    let fail = |source| InputError {
        path: path.to_owned(),
        source,
    };
    let (raw, total_bytes): (Box<dyn Read + Send>, Option<u64>) = if path == "-" {
        (Box::new(io::stdin()), None)
    } else {
        let file = File::open(path).map_err(fail)?;
        let meta = file.metadata().map_err(fail)?;
        if meta.is_dir() {
            return Err(fail(io::Error::new(
                io::ErrorKind::InvalidInput,
                "is a directory",
            )));
        }
        (Box::new(file), meta.is_file().then_some(meta.len()))
    };
    let progress = ByteCounter::new();
    let mut counted = CountingReader::new(raw, progress.clone());
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < magic.len() {
        match counted.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(fail(e)),
        }
    }
    let gzip = got == 2 && magic == [0x1f, 0x8b];
    let stream = io::Cursor::new(magic[..got].to_vec()).chain(counted);
    let path: Arc<str> = Arc::from(path);
    let reader: Box<dyn Read + Send> = if gzip {
        Box::new(NamedErrors {
            inner: MultiGzDecoder::new(stream),
            path,
        })
    } else {
        Box::new(NamedErrors {
            inner: stream,
            path,
        })
    };
    Ok(Input {
        reader,
        progress,
        total_bytes,
        gzip,
    })
}

/// A run of whole lines from an input, for parsing on any thread.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// Name of the input (the path, or `-`).
    pub source: Arc<str>,
    /// 1-based line number of the first line in `data`.
    pub first_line: u64,
    /// Whole lines, each ending in `\n` except possibly the last line of the input.
    pub data: Vec<u8>,
}

impl Chunk {
    /// The lines with their 1-based numbers, without `\n` or `\r\n`. Empty lines are skipped
    /// (numbering still counts them).
    pub fn lines(&self) -> Lines<'_> {
        Lines {
            data: &self.data,
            pos: 0,
            line_no: self.first_line,
        }
    }
}

/// Iterator over the lines of a [`Chunk`]; see [`Chunk::lines`].
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    data: &'a [u8],
    pos: usize,
    line_no: u64,
}

impl<'a> Iterator for Lines<'a> {
    type Item = (u64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let rest = self.data.get(self.pos..).filter(|r| !r.is_empty())?;
            let (line, advance) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], i + 1),
                None => (rest, rest.len()),
            };
            self.pos += advance;
            let no = self.line_no;
            self.line_no += 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.is_empty() {
                return Some((no, line));
            }
        }
    }
}

/// Reads an input as [`Chunk`]s of whole lines of about `chunk_size` bytes (1 MiB by default),
/// split after a `\n`. A line longer than the chunk size makes a larger chunk.
#[derive(Debug)]
pub struct ChunkReader<R> {
    reader: R,
    source: Arc<str>,
    chunk_size: usize,
    carry: Vec<u8>,
    next_line: u64,
    bytes_read: u64,
    finished: bool,
    /// A read error to report after the complete lines read before it.
    error: Option<io::Error>,
    /// Inside an over-long line: drop bytes until its end.
    skipping: bool,
}

/// Longest line kept whole; the rest of a longer line is dropped (the line still counts, and its
/// parser usually calls it malformed), so one endless line cannot exhaust memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

impl<R: Read> ChunkReader<R> {
    /// Chunks `reader`; `source` names it in each [`Chunk`].
    pub fn new(source: impl Into<Arc<str>>, reader: R) -> Self {
        ChunkReader {
            reader,
            source: source.into(),
            chunk_size: DEFAULT_CHUNK_SIZE,
            carry: Vec::new(),
            next_line: 1,
            bytes_read: 0,
            finished: false,
            error: None,
            skipping: false,
        }
    }

    /// Sets the target chunk size in bytes (at least 1).
    #[must_use]
    pub fn with_chunk_size(mut self, chunk_size: usize) -> Self {
        self.chunk_size = chunk_size.max(1);
        self
    }

    /// Bytes read from the wrapped reader so far (decoded bytes for a gzip [`Input`]; use
    /// [`Input::progress`] to count compressed bytes against the file size).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    fn fill(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        let room = self.chunk_size.clamp(4096, 1 << 20);
        let mut scanned = 0; // bytes of `buf` known to hold no '\n'
        loop {
            if buf.len() >= self.chunk_size && memchr::memchr(b'\n', &buf[scanned..]).is_some() {
                return Ok(());
            }
            scanned = buf.len();
            let len = buf.len();
            buf.resize(len + room, 0);
            let n = loop {
                match self.reader.read(&mut buf[len..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        buf.truncate(len);
                        return Err(e);
                    }
                }
            };
            buf.truncate(len + n);
            self.bytes_read += n as u64;
            if n == 0 {
                self.finished = true;
                return Ok(());
            }
            if self.skipping {
                match memchr::memchr(b'\n', &buf[len..]) {
                    None => {
                        buf.truncate(len);
                        continue;
                    }
                    Some(i) => {
                        buf.drain(len..len + i);
                        self.skipping = false;
                    }
                }
            }
            let line_start = memchr::memrchr(b'\n', buf).map_or(0, |i| i + 1);
            if buf.len() - line_start > MAX_LINE_BYTES {
                buf.truncate(line_start + MAX_LINE_BYTES);
                self.skipping = true;
                scanned = scanned.min(buf.len());
            }
        }
    }
}

impl<R: Read> Iterator for ChunkReader<R> {
    type Item = io::Result<Chunk>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.error.take() {
            return Some(Err(e));
        }
        if self.finished && self.carry.is_empty() {
            return None;
        }
        let mut buf = std::mem::take(&mut self.carry);
        let mut failed = false;
        if !self.finished {
            buf.reserve(self.chunk_size);
            if let Err(e) = self.fill(&mut buf) {
                // Hand out the complete lines read before the error first; the cut-off tail of
                // the last line is lost with the error.
                self.finished = true;
                self.error = Some(e);
                failed = true;
                let cut = memchr::memrchr(b'\n', &buf).map_or(0, |i| i + 1);
                buf.truncate(cut);
            }
        }
        if failed && buf.is_empty() {
            return self.error.take().map(Err);
        }
        if !self.finished {
            // `fill` only stops early once a '\n' is present.
            let cut = memchr::memrchr(b'\n', &buf).map_or(buf.len(), |i| i + 1);
            self.carry = buf[cut..].to_vec();
            buf.truncate(cut);
        }
        if buf.is_empty() {
            return None;
        }
        let first_line = self.next_line;
        self.next_line += memchr::memchr_iter(b'\n', &buf).count() as u64;
        Some(Ok(Chunk {
            source: Arc::clone(&self.source),
            first_line,
            data: buf,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn chunks(data: &[u8], size: usize) -> Vec<Chunk> {
        ChunkReader::new("t", data)
            .with_chunk_size(size)
            .collect::<io::Result<Vec<_>>>()
            .unwrap()
    }

    fn all_lines(cs: &[Chunk]) -> Vec<(u64, Vec<u8>)> {
        cs.iter()
            .flat_map(|c| c.lines().map(|(n, l)| (n, l.to_vec())).collect::<Vec<_>>())
            .collect()
    }

    #[test]
    fn lines_keep_numbering_across_chunks() {
        let data = b"a\r\n\nbb\nccc\n\r\ndddd";
        let want = vec![
            (1, b"a".to_vec()),
            (3, b"bb".to_vec()),
            (4, b"ccc".to_vec()),
            (6, b"dddd".to_vec()),
        ];
        for size in [1, 2, 3, 5, 8, 100, DEFAULT_CHUNK_SIZE] {
            let cs = chunks(data, size);
            assert_eq!(all_lines(&cs), want, "chunk size {size}");
            let joined: Vec<u8> = cs.iter().flat_map(|c| c.data.clone()).collect();
            assert_eq!(joined, data, "chunk size {size}");
            for c in &cs[..cs.len() - 1] {
                assert_eq!(c.data.last(), Some(&b'\n'));
            }
        }
    }

    #[test]
    fn long_line_grows_the_chunk() {
        let mut data = vec![b'x'; 10_000];
        data.push(b'\n');
        data.extend_from_slice(b"short\n");
        let cs = chunks(&data, 100);
        assert!(cs[0].data.len() >= 10_001);
        assert_eq!(all_lines(&cs)[0].1.len(), 10_000);
        assert_eq!(all_lines(&cs)[1], (2, b"short".to_vec()));
    }

    #[test]
    fn empty_input_has_no_chunks() {
        assert!(chunks(b"", 10).is_empty());
        let mut r = ChunkReader::new("t", &b"abc\n"[..]);
        assert!(r.next().is_some());
        assert_eq!(r.bytes_read(), 4);
        assert!(r.next().is_none());
    }

    #[test]
    fn gzip_detected_by_magic_and_multimember() {
        use flate2::write::GzEncoder;
        let dir = std::env::temp_dir().join(format!("tollgate-logs-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut gz = Vec::new();
        for part in [&b"one\n"[..], b"two\n"] {
            let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(part).unwrap();
            gz.extend(e.finish().unwrap());
        }
        let p = dir.join("access.log"); // no .gz extension on purpose
        std::fs::write(&p, &gz).unwrap();
        let mut input = open_input_with_progress(p.to_str().unwrap()).unwrap();
        assert!(input.gzip);
        assert_eq!(input.total_bytes, Some(gz.len() as u64));
        let mut s = String::new();
        input.reader.read_to_string(&mut s).unwrap();
        assert_eq!(s, "one\ntwo\n");
        assert_eq!(input.progress.get(), gz.len() as u64);

        let plain = dir.join("plain.log.gz"); // .gz extension, plain content
        std::fs::write(&plain, b"x").unwrap();
        let mut s = String::new();
        open_input(plain.to_str().unwrap())
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "x");

        let empty = dir.join("empty.log");
        std::fs::write(&empty, b"").unwrap();
        let mut s = String::new();
        open_input(empty.to_str().unwrap())
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "");

        let bad = dir.join("bad.log");
        std::fs::write(&bad, [0x1f, 0x8b, 0, 0]).unwrap();
        let mut s = Vec::new();
        let err = open_input(bad.to_str().unwrap())
            .unwrap()
            .read_to_end(&mut s)
            .unwrap_err();
        assert!(err.to_string().contains("bad.log"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = open_input("/nonexistent/tollgate/x.log").err().unwrap();
        assert_eq!(err.path, "/nonexistent/tollgate/x.log");
        assert!(err.to_string().contains("/nonexistent/tollgate/x.log"));
        assert!(open_input("/").is_err());
    }

    /// A reader that yields `good` and then fails, like a truncated gzip stream.
    struct FailsAfter(std::io::Cursor<Vec<u8>>);
    impl Read for FailsAfter {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.read(buf)? {
                0 => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "incomplete deflate stream",
                )),
                n => Ok(n),
            }
        }
    }

    #[test]
    fn complete_lines_before_a_read_error_are_handed_out_first() {
        // Regression: a corrupt gzip lost the whole partly filled chunk (up to 1 MiB of lines).
        let data = b"one\ntwo\nthree\nfou".to_vec();
        let mut r = ChunkReader::new("t", FailsAfter(std::io::Cursor::new(data)));
        let first = r.next().unwrap().unwrap();
        let lines: Vec<Vec<u8>> = first.lines().map(|(_, l)| l.to_vec()).collect();
        assert_eq!(lines, [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
        let err = r.next().unwrap().unwrap_err();
        assert_eq!(err.to_string(), "incomplete deflate stream");
        assert!(r.next().is_none());
    }

    #[test]
    fn an_endless_line_is_cut_at_the_limit_and_numbering_goes_on() {
        let mut data = vec![b'x'; MAX_LINE_BYTES * 3];
        data.extend_from_slice(b"\nnext\n");
        let cs = chunks(&data, 64 * 1024);
        let lines = all_lines(&cs);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].0, 1);
        assert_eq!(lines[0].1.len(), MAX_LINE_BYTES);
        assert_eq!(lines[1], (2, b"next".to_vec()));
    }
}
