//! Flood protection after a burst: a registrar answers a burst of
//! REGISTERs within milliseconds, then nothing from this PBX at all, with
//! no failed login before. A PBX with many trunks makes its burst across
//! them: the answers are counted per host and registrar address, and every
//! trunk left unanswered is told the ban, with when the answers stopped.
use proptest::prelude::*;

use super::{
    wire::{Wire, any_wire, feed_wire},
    *,
};

/// `answered` trunks register (challenge, credentials, 200 OK) `gap` s
/// apart, each answer within `rtt` s; then `silent` more trunks send
/// their REGISTERs (through Timer F over UDP) and nothing answers.
fn burst_then_silence(
    wire: &Wire,
    answered: u32,
    silent: u32,
    gap: f64,
    rtt: f64,
) -> (Tracker, Vec<Wire>, f64) {
    let trunks: Vec<Wire> = (0..answered + silent)
        .map(|i| Wire {
            user: format!("{}{i}", wire.user),
            ..wire.clone()
        })
        .collect();
    let mut steps: Vec<(&Wire, String, f64, bool)> = Vec::new();
    let mut t0 = 0.0;
    for w in &trunks[..answered as usize] {
        let r1 = w.register(1, 600, false);
        let r2 = w.register(2, 600, true);
        let ok = w.answer(
            &r2,
            "200 OK",
            &format!("Contact: <{}>;expires=600\r\n", w.contact()),
        );
        steps.push((w, r1.clone(), t0, true));
        steps.push((
            w,
            w.answer(&r1, "401 Unauthorized", CHALLENGE),
            t0 + rtt,
            false,
        ));
        steps.push((w, r2, t0 + 2.0 * rtt, true));
        steps.push((w, ok, t0 + 3.0 * rtt, false));
        t0 += gap;
    }
    let stopped = t0;
    for w in &trunks[answered as usize..] {
        let r = w.register(1, 600, false);
        let copies: &[f64] = if w.transport == Transport::Udp {
            &[0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
        } else {
            &[0.0]
        };
        for k in copies {
            steps.push((w, r.clone(), t0 + k, true));
        }
        t0 += gap;
    }
    steps.sort_by(|a, b| a.2.total_cmp(&b.2));
    let mut t = Tracker::default();
    let mut events = Vec::new();
    for (w, text, secs, out) in &steps {
        feed_wire(&mut t, &mut events, w, &[(text.clone(), *secs, *out)]);
    }
    t.tick(at(t0 + 40.0), &mut events);
    (t, trunks[answered as usize..].to_vec(), stopped)
}

fn assert_banned(t: &Tracker, silent: &[Wire], answers: u32, stopped: f64) {
    for w in silent {
        let reg = t
            .registrations()
            .into_iter()
            .find(|r| r.key.aor.contains(&format!("sip:{}@", w.user)))
            .expect("the silent trunk");
        let d = reg
            .diagnoses
            .iter()
            .find(|d| d.is_failure())
            .unwrap_or_else(|| panic!("{:?}", reg.diagnoses));
        let Diagnosis::Banned {
            rejections,
            answered_burst,
            answers_stopped_at,
            icmp,
            ..
        } = d
        else {
            panic!("{d:?}");
        };
        assert_eq!((*rejections, *icmp), (0, None));
        assert!(*answered_burst >= answers.min(10), "{answered_burst}");
        assert!(*answers_stopped_at >= at(stopped), "{answers_stopped_at:?}");
        let (cause, fix) = d.explain();
        assert!(cause.contains("answers nothing at all"), "{cause}");
        assert!(
            cause.contains("not a dead registrar and not DNS"),
            "{cause}"
        );
        assert!(!fix.contains("dig"), "{fix}");
        assert!(fix.contains("lift the ban"), "{fix}");
    }
}

#[test]
fn a_burst_across_six_trunks_then_silence_bans_every_trunk_left_over_udp_v4() {
    let wire = Wire::new(
        "192.168.0.50:5060",
        "203.0.113.60:5060",
        Transport::Udp,
        "trunk",
    );
    let (t, silent, stopped) = burst_then_silence(&wire, 6, 3, 0.01, 0.002);
    assert_banned(&t, &silent, 12, stopped);
}

#[test]
fn a_burst_across_trunks_then_silence_over_tcp_v6_is_a_ban() {
    let wire = Wire::new(
        "[2001:db8:50::5]:43110",
        "[2001:db8:60::6]:5060",
        Transport::Tcp,
        "line",
    );
    let (t, silent, stopped) = burst_then_silence(&wire, 8, 2, 0.05, 0.02);
    assert_banned(&t, &silent, 16, stopped);
}

#[test]
fn a_few_answers_then_silence_is_no_ban() {
    // Two trunks answered: no burst, a timeout with its generic advice.
    let wire = Wire::new(
        "192.168.0.50:5060",
        "203.0.113.60:5060",
        Transport::Udp,
        "few",
    );
    let (t, silent, _) = burst_then_silence(&wire, 2, 1, 0.01, 0.002);
    let reg = t
        .registrations()
        .into_iter()
        .find(|r| r.key.aor.contains(&format!("sip:{}@", silent[0].user)))
        .unwrap();
    assert!(
        matches!(reg.diagnoses[0], Diagnosis::Timeout { .. }),
        "{:?}",
        reg.diagnoses
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn every_silence_after_a_burst_across_trunks_is_a_ban(
        wire in any_wire(),
        answered in 5u32..12,
        silent in 1u32..4,
        gap_ms in 1u64..400,
        rtt_ms in 1u64..100,
    ) {
        let (t, silent_trunks, stopped) =
            burst_then_silence(&wire, answered, silent, gap_ms as f64 / 1000.0, rtt_ms as f64 / 1000.0);
        assert_banned(&t, &silent_trunks, answered * 2, stopped);
    }
}
