//! The live registration table (`attach --table`): redrawn in place every
//! second instead of the message log, with the path audit's latest finding
//! per registration under it when `--echo` runs.
use std::io::{self, Write};

use super::{
    Output, Snapshot,
    registrations::{write_table, write_totals},
};

/// Redraws the table (cursor home, clear screen) on every tick.
pub struct LiveTable;

impl Output for LiveTable {
    fn tick(&mut self, out: &mut dyn Write, now: &Snapshot<'_>) -> io::Result<()> {
        let tracker = now.tracker;
        out.write_all(b"\x1b[H\x1b[2J")?;
        let out = &mut super::printable::Printable::new(out);
        let regs = tracker.registrations();
        write_table(out, &regs, tracker.now())?;
        write_totals(out, &regs, &tracker.stats())?;
        if let Some(audit) = now.audit {
            super::summary::write_audit(out, audit)?;
        }
        out.flush()
    }
}
