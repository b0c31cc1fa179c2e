//! The kernel programs are the `sipwatch` binary of this crate; this empty
//! library only lets `sipwatch` name the crate as a build dependency.
#![no_std]
