//! The demo: a PBX behind a router with the kernel's SIP ALG, a Kamailio
//! registrar at the provider, sipsak registering and calling, and sipwatch
//! attached to the PBX's interface printing what crosses it and auditing
//! the PBX's own REGISTERs through a `sipwatch echo` beside the registrar;
//! then the router's firewall starts dropping SIP on its way back, and the
//! PBX's next REGISTER times out (its 408) with the audit placing the loss
//! on that leg; last, the pre-go-live check, `sipwatch probe` against the
//! same echo. The ALG and the lost answers are what the PBX's own view
//! cannot show.
use std::{
    path::Path,
    process::Stdio,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use sipwatch_lab::{
    ECHO_V4, Lab, Netns, PBX_IF, PBX_V4, PROVIDER_V4, Personality,
    kamailio::{self, Kamailio},
};

use crate::{run::build_sipwatch, setup};

/// Set by Ctrl-C (SIGINT) while the lab stands: the demo stops at its next
/// step and the lab is still removed (a signal's default action would
/// leave its namespaces behind).
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn interrupted(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// `Err` once Ctrl-C was pressed.
fn go_on() -> anyhow::Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted (Ctrl-C): the demo stopped early");
    }
    Ok(())
}

/// Sleeps `d`, waking early for Ctrl-C.
fn pause(d: Duration) -> anyhow::Result<()> {
    let until = Instant::now() + d;
    while Instant::now() < until {
        go_on()?;
        std::thread::sleep(
            Duration::from_millis(100).min(until.saturating_duration_since(Instant::now())),
        );
    }
    go_on()
}

pub fn run() -> anyhow::Result<()> {
    setup::run()?;
    let sipwatch = build_sipwatch()?;
    // SAFETY: the handler only stores to an atomic, which is
    // async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGINT,
            interrupted as extern "C" fn(libc::c_int) as *const () as libc::sighandler_t,
        )
    };
    println!(
        "==> building the lab: pbx ({PBX_V4}) -- router (NAT + kernel SIP ALG) -- provider ({PROVIDER_V4})"
    );
    let lab = Lab::new(Personality::SipAlg).context("building the lab (needs root)")?;
    let dir = tempdir()?;
    let result = demo(&lab, &sipwatch, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    drop(lab);
    println!("==> lab removed");
    result
}

fn demo(lab: &Lab, sipwatch: &Path, dir: &Path) -> anyhow::Result<()> {
    std::fs::write(dir.join("register.sip"), register("alice"))?;
    std::fs::write(dir.join("register-1001.sip"), register(kamailio::USER))?;
    std::fs::write(dir.join("register-carol.sip"), register("carol"))?;
    std::fs::write(dir.join("invite.sip"), invite())?;
    let path = |name: &str| dir.join(name).display().to_string();

    println!("==> starting Kamailio (registrar) in the provider namespace");
    let _kamailio = Kamailio::start(&lab.provider)?;
    println!("==> starting `sipwatch echo` beside it, on {ECHO_V4}");
    let echo = start_echo(lab, sipwatch)?;

    println!(
        "==> attaching sipwatch to the PBX's {PBX_IF} (XDP ingress + TC egress), auditing the\n    \
         PBX's own REGISTERs through the echo (--echo {ECHO_V4})\n"
    );
    let capture = lab.pbx.spawn_with(
        &[
            &sipwatch.display().to_string(),
            "attach",
            PBX_IF,
            "--echo",
            &ECHO_V4.to_string(),
            // No NAT lifetime measure: the firewall switched on below would
            // stop its keep-alives and read as a NAT that forgets.
            "--nat-gaps",
            "",
        ],
        Stdio::inherit(),
        Stdio::inherit(),
    )?;
    wait_for_xdp(&lab.pbx)?;
    go_on()?;

    let target = format!("sip:alice@{PROVIDER_V4}");
    for (what, file) in [
        ("a REGISTER", "register.sip"),
        ("an INVITE with SDP", "invite.sip"),
    ] {
        println!("\n==> sipsak sends {what} from {PBX_V4}:5060 to {PROVIDER_V4}\n");
        // -S -l 5060: send from and listen on 5060, as a PBX does; the ALG
        // rewrites only when the source port matches the headers.
        let _ = lab.pbx.run(&[
            "sipsak",
            "-f",
            &path(file),
            "-s",
            &target,
            "-S",
            "-l",
            "5060",
            "--no-via",
        ]);
        pause(Duration::from_millis(700))?;
    }
    println!(
        "\n==> sipsak registers {} with a wrong password: the registrar challenges, rejects the credentials\n",
        kamailio::USER
    );
    let target = format!("sip:{}@{PROVIDER_V4}", kamailio::USER);
    let _ = lab.pbx.run(&[
        "sipsak",
        "-f",
        &path("register-1001.sip"),
        "-s",
        &target,
        "-S",
        "-l",
        "5060",
        "--no-via",
        "-a",
        "not-the-password",
        "-u",
        kamailio::USER,
    ]);
    pause(Duration::from_millis(700))?;
    firewall_on_the_way_back(lab, &path("register-carol.sip"))?;
    println!(
        "\n==> stopping sipwatch (SIGINT): it detaches, prints the registrations and its counters\n"
    );
    let out = capture.stop(libc::SIGINT, Duration::from_secs(10))?;
    if !out.status.success() {
        bail!("sipwatch exited with {}", out.status);
    }
    println!(
        "\n==> What the PBX's NIC saw is what the PBX sent: private addresses in Via,\n    \
         Contact and SDP. The router's SIP ALG rewrote them on the way out, and the\n    \
         replies on the way back: from the PBX alone the path looks clean. The PATH\n    \
         lines, from the shadow of each REGISTER the echo received, show the rewrite;\n    \
         for carol's REGISTER, the echo received its shadow but its answer never came\n    \
         back: the 408 was lost on the way back (the router's firewall), not at the\n    \
         provider and not on this host."
    );
    let result = probe_the_path(lab, sipwatch);
    let _ = echo.stop(libc::SIGTERM, Duration::from_secs(5));
    result
}

/// The third use: a firewall on the router starts dropping SIP on its way
/// back; the PBX's REGISTER goes unanswered until Timer F (32 s), when it
/// reports 408, and the audit says on which leg it was lost.
fn firewall_on_the_way_back(lab: &Lab, register: &str) -> anyhow::Result<()> {
    println!(
        "\n==> the router's firewall now drops SIP on its way back to the PBX; sipsak registers\n    \
         carol: nothing answers, and after Timer F (32 s) the PBX would log 408 Request Timeout\n"
    );
    lab.drop_sip_on_the_way_back()
        .context("adding the router's return-path drop")?;
    let sent = Instant::now();
    let target = format!("sip:carol@{PROVIDER_V4}");
    // sipsak retransmits for about 32 s itself, then gives up.
    let _ = lab.pbx.run(&[
        "sipsak", "-f", register, "-s", &target, "-S", "-l", "5060", "--no-via",
    ]);
    // Timer F fires 32 s after the first send; the audit then asks the echo.
    let timer_f = Duration::from_secs(34);
    let waited = timer_f.checked_sub(sent.elapsed()).map_or(Ok(()), pause);
    lab.stop_dropping_sip_on_the_way_back()
        .context("removing the router's return-path drop")?;
    waited
}

/// `sipwatch echo` on the provider's second address, once it serves.
fn start_echo(lab: &Lab, sipwatch: &Path) -> anyhow::Result<sipwatch_lab::NetnsChild> {
    lab.add_echo_address()
        .context("giving the provider the echo's address")?;
    let echo = lab.provider.spawn_with(
        &[
            &sipwatch.display().to_string(),
            "echo",
            "--listen",
            &format!("{ECHO_V4}:5060"),
        ],
        Stdio::null(),
        Stdio::null(),
    )?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !lab
        .provider
        .run(&["ss", "-Hltn", "sport = :5099"])
        .is_ok_and(|o| !o.trim().is_empty())
    {
        if Instant::now() > deadline {
            bail!("sipwatch echo did not start within 15 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(echo)
}

/// `sipwatch probe` from the PBX against the echo: the pre-go-live check,
/// realistic REGISTER, INVITE and OPTIONS over UDP and TCP.
fn probe_the_path(lab: &Lab, sipwatch: &Path) -> anyhow::Result<()> {
    println!(
        "\n==> Before go-live, without a PBX: `sipwatch probe {ECHO_V4}` on the PBX host\n    \
         against the same echo\n"
    );
    let sipwatch = sipwatch.display().to_string();
    let probe = lab
        .pbx
        .command(&[&sipwatch, "probe", &ECHO_V4.to_string(), "--timeout", "3"])
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .context("running sipwatch probe")?;
    match probe.code() {
        Some(2) => {
            println!(
                "\n==> Found: the router's SIP ALG rewrites Via, Contact and the SDP of the PBX's\n    \
                 requests (exit code 2). Before go-live, run the same two commands across the\n    \
                 real router: `sipwatch echo` on a public host, `sipwatch probe HOST` on the PBX."
            );
            Ok(())
        }
        other => {
            bail!("sipwatch probe should have found the ALG (exit 2), it exited with {other:?}")
        }
    }
}

fn tempdir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("sipwatch-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn wait_for_xdp(ns: &Netns) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if ns
            .run(&["ip", "link", "show", PBX_IF])
            .is_ok_and(|o| o.contains("xdp"))
        {
            // The TC hook attaches right after XDP.
            std::thread::sleep(Duration::from_millis(200));
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("sipwatch did not attach within 15 s")
}

/// sipsak adds the CRs itself; files hold LF line ends.
fn register(user: &str) -> String {
    format!(
        "REGISTER sip:{PROVIDER_V4} SIP/2.0\n\
         Via: SIP/2.0/UDP {PBX_V4}:5060;branch=z9hG4bK-demo-reg-{user};rport\n\
         Max-Forwards: 70\n\
         From: <sip:{user}@{PROVIDER_V4}>;tag=demo-reg\n\
         To: <sip:{user}@{PROVIDER_V4}>\n\
         Call-ID: demo-reg-{user}@{PBX_V4}\n\
         CSeq: 1 REGISTER\n\
         Contact: <sip:{user}@{PBX_V4}:5060>\n\
         Expires: 300\n\
         User-Agent: sipwatch-demo\n\
         Content-Length: 0\n\n"
    )
}

fn invite() -> String {
    let sdp = format!(
        "v=0\r\no=alice 2890844526 2890844526 IN IP4 {PBX_V4}\r\ns=demo call\r\n\
         c=IN IP4 {PBX_V4}\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8 101\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    );
    format!(
        "INVITE sip:bob@{PROVIDER_V4} SIP/2.0\n\
         Via: SIP/2.0/UDP {PBX_V4}:5060;branch=z9hG4bK-demo-inv-1;rport\n\
         Max-Forwards: 70\n\
         From: <sip:alice@{PROVIDER_V4}>;tag=demo-inv\n\
         To: <sip:bob@{PROVIDER_V4}>\n\
         Call-ID: demo-inv-1@{PBX_V4}\n\
         CSeq: 1 INVITE\n\
         Contact: <sip:alice@{PBX_V4}:5060>\n\
         Content-Type: application/sdp\n\
         Content-Length: {}\n\n{}",
        sdp.len(),
        sdp.replace("\r\n", "\n")
    )
}
