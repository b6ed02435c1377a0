//! Standard output for every command: a reader that stops early (`gatehouse audit export |
//! head -1`) ends the command quietly, as a success, instead of with "Broken pipe".

use std::io::{self, ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a write to standard output found its reader gone.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether standard output's reader has gone: what a command failed on is then that, and
/// nobody is left to read about it.
pub fn closed() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

/// Standard output, noting a closed pipe. Commands write through it (with `outln!`) rather than
/// `println!`, which would panic there.
pub struct Stdout;

impl Stdout {
    fn note<T>(result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result
            && e.kind() == ErrorKind::BrokenPipe
        {
            CLOSED.store(true, Ordering::Relaxed);
        }
        result
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Self::note(io::stdout().write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        Self::note(io::stdout().lock().write_all(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Self::note(io::stdout().flush())
    }
}

/// `println!` that returns the write's `io::Result` instead of panicking on a closed pipe.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!($crate::cli::output::Stdout, $($arg)*)
    }};
}
pub(crate) use outln;
