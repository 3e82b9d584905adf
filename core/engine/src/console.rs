//! Printing that survives a closed pipe. `emoflow plugins | head -1` closes
//! stdout after one line, and std's `println!` then panics ("failed
//! printing to stdout: Broken pipe", exit 101). These macros, imported by
//! name in place of std's (`use emoflow_engine::{println, eprintln};`),
//! write the same text and drop a write error: the output is for a reader,
//! and one who has stopped reading is no reason to fail.

#[doc(hidden)]
#[macro_export]
macro_rules! __write_quietly {
    ($stream:expr, $write:ident, $($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = $write!($stream, $($arg)*);
    }};
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::__write_quietly!(std::io::stdout(), write, $($arg)*) };
}

#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => { $crate::__write_quietly!(std::io::stdout(), writeln, $($arg)*) };
}

#[macro_export]
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::__write_quietly!(std::io::stderr(), write, $($arg)*) };
}

#[macro_export]
macro_rules! eprintln {
    ($($arg:tt)*) => { $crate::__write_quietly!(std::io::stderr(), writeln, $($arg)*) };
}
