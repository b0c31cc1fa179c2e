//! Text for a terminal from bytes anyone on the network chose: a SIP
//! message can carry ESC sequences (retitle the window, clear the screen,
//! worse on some terminals), and sipwatch prints header values, reasons and
//! Warning texts. Every text output writes through [`Printable`], which
//! shows control characters as `\x1b` instead of passing them on. JSON
//! needs no such care: serde escapes them.
use std::io::{self, Write};

/// A writer that passes text on and shows C0 and C1 control characters
/// (except newline and tab) and DEL as `\xNN`.
pub struct Printable<'a> {
    out: &'a mut dyn Write,
    /// The first byte of a UTF-8 C1 control (U+0080–U+009F is C2 80–9F)
    /// that ended the previous write.
    pending_c2: bool,
}

impl<'a> Printable<'a> {
    /// Writes through `out`.
    pub fn new(out: &'a mut dyn Write) -> Self {
        Self {
            out,
            pending_c2: false,
        }
    }
}

impl Write for Printable<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Almost always: nothing to show otherwise, one write.
        if !self.pending_c2
            && !buf
                .iter()
                .any(|&b| b < 0x20 && b != b'\n' && b != b'\t' || b == 0x7f || b == 0xc2)
        {
            self.out.write_all(buf)?;
            return Ok(buf.len());
        }
        let mut start = 0;
        let mut i = 0;
        if self.pending_c2 {
            self.pending_c2 = false;
            match buf.first() {
                Some(&b) if (0x80..=0x9f).contains(&b) => {
                    write!(self.out, "\\x{b:02x}")?;
                    start = 1;
                    i = 1;
                }
                _ => self.out.write_all(&[0xc2])?,
            }
        }
        while i < buf.len() {
            let b = buf[i];
            let c1 = b == 0xc2 && buf.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n));
            let c0 = (b < 0x20 && b != b'\n' && b != b'\t') || b == 0x7f;
            if c0 || c1 {
                self.out.write_all(&buf[start..i])?;
                if c1 {
                    write!(self.out, "\\x{:02x}", buf[i + 1])?;
                    i += 2;
                } else {
                    write!(self.out, "\\x{b:02x}")?;
                    i += 1;
                }
                start = i;
                continue;
            }
            if b == 0xc2 && i + 1 == buf.len() {
                // Maybe the first half of a C1 control: decide on the next write.
                self.out.write_all(&buf[start..i])?;
                self.pending_c2 = true;
                return Ok(buf.len());
            }
            i += 1;
        }
        self.out.write_all(&buf[start..])?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.pending_c2 {
            self.pending_c2 = false;
            self.out.write_all(&[0xc2])?;
        }
        self.out.flush()
    }
}

impl Drop for Printable<'_> {
    fn drop(&mut self) {
        if self.pending_c2 {
            let _ = self.out.write_all(&[0xc2]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(input: &[u8]) -> String {
        let mut out = Vec::new();
        {
            let mut p = Printable::new(&mut out);
            // Byte by byte too, so that a C1 control split over writes is caught.
            for chunk in input.chunks(1) {
                p.write_all(chunk).unwrap();
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escape_sequences_from_the_wire_are_shown_not_obeyed() {
        assert_eq!(
            shown(b"REGISTER sip:\x1b]0;PWNED\x07\x1b[2Jx SIP/2.0\n"),
            "REGISTER sip:\\x1b]0;PWNED\\x07\\x1b[2Jx SIP/2.0\n"
        );
        assert_eq!(shown("a\u{9b}2Jb\tc".as_bytes()), "a\\x9b2Jb\tc");
        assert_eq!(shown("é — ok".as_bytes()), "é — ok");
        assert_eq!(shown(b"\x7f"), "\\x7f");
    }
}
