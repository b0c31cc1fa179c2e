//! Benchmarks. Each prints sipwatch's figures beside those of the tool a
//! user would otherwise reach for, measured in the same run.
mod analyze;
mod capture;
mod echo;
mod measure;
mod sipgen;
mod soak;
mod tls;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum Bench {
    /// Flood SIP over UDP across the lab with sipwatch and tcpdump capturing
    /// the PBX's interface; compare what each captured and lost.
    Capture {
        /// How long to flood, in seconds.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// sipwatch's ring buffer (and tcpdump's kernel buffer) size.
        #[arg(long, default_value = "64M")]
        ring_size: String,
    },
    /// Generate a capture of SIP traffic and time `sipwatch analyze` against
    /// `tshark -r FILE -Y sip` on it.
    Analyze {
        /// SIP messages in the generated capture.
        #[arg(long, default_value_t = 1_000_000)]
        messages: u64,
    },
    /// `sipwatch echo` under a bounded flood (answers per second, CPU,
    /// memory), and `sipwatch probe`'s time to a verdict.
    Echo {
        /// How long to flood, in seconds.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// sipwatch as a service (`attach --echo --metrics --events`) under
    /// minutes of REGISTER churn from sipp, every one a new binding:
    /// resident memory over time, beside tshark capturing the same.
    Soak {
        /// How long to churn, in seconds.
        #[arg(long, default_value_t = 600)]
        seconds: u64,
        /// REGISTERs a second.
        #[arg(long, default_value_t = 500)]
        rate: u32,
    },
    /// A PBX registering over TLS with Kamailio as fast as it is
    /// answered, without and then with `sipwatch attach --process`
    /// reading its plaintext through uprobes: its requests per second
    /// both ways, and what sipwatch read and lost.
    Tls {
        /// How long each run lasts, in seconds.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
}

pub fn run(which: Bench) -> anyhow::Result<()> {
    match which {
        Bench::Capture { seconds, ring_size } => capture::run(seconds, &ring_size),
        Bench::Analyze { messages } => analyze::run(messages),
        Bench::Echo { seconds } => echo::run(seconds),
        Bench::Soak { seconds, rate } => soak::run(seconds, rate),
        Bench::Tls { seconds } => tls::run(seconds),
    }
}
