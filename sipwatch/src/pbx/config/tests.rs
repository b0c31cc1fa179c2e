use std::path::Path;

use proptest::prelude::*;

use super::*;

fn parse(text: &str) -> Config {
    Config::parse(text, "pjsip.conf").expect("parses")
}

#[test]
fn sections_keep_their_type_and_every_value_its_line() {
    let c = parse("; head\n\n[trunk]\ntype = registration\nserver_uri=sip:p.example\n");
    let s = c.section("trunk").unwrap();
    assert_eq!((s.line, s.kind()), (3, Some("registration")));
    assert_eq!(s.get("server_uri").unwrap().line, 5);
    assert_eq!(s.get("server_uri").unwrap().file, Path::new("pjsip.conf"));
}

#[test]
fn a_template_is_not_a_section_and_its_values_are_inherited_first() {
    let c = parse("[t](!)\nretry_interval=30\n[a]\ntype=aor\n[r](t,a)\nretry_interval=20\n");
    assert!(c.section("t").is_none());
    let r = c.section("r").unwrap();
    let keys: Vec<_> = r
        .values
        .iter()
        .map(|v| (v.key.as_str(), v.from_template.as_deref()))
        .collect();
    assert_eq!(
        keys,
        [
            ("retry_interval", Some("t")),
            ("type", Some("a")),
            ("retry_interval", None)
        ]
    );
    assert_eq!(r.text("retry_interval"), Some("20"));
    assert_eq!(r.all("retry_interval").next().unwrap().line, 2);
    assert_eq!(r.inherits, ["t", "a"]);
}

#[test]
fn an_addition_appends_to_the_section_above() {
    let c = parse("[r]\ntype=registration\n[r](+)\nexpiration=120\n");
    assert_eq!(c.sections.len(), 1);
    assert_eq!(c.section("r").unwrap().get("expiration").unwrap().line, 4);
}

#[test]
fn an_addition_or_a_template_that_is_not_there_is_an_error_with_its_line() {
    let e = Config::parse("[r](+)\n", "x.conf").unwrap_err();
    assert!(
        matches!(e, ConfigError::NoSectionToAddTo { line: 1, .. }),
        "{e}"
    );
    let e = Config::parse("\n[r](nope)\n", "x.conf").unwrap_err();
    assert_eq!(
        e.to_string(),
        "x.conf:2: [r] inherits from [nope], which is not defined above it"
    );
    let e = Config::parse("[r\n", "x.conf").unwrap_err();
    assert!(matches!(e, ConfigError::NoClosingBracket { line: 1, .. }));
    let e = Config::parse("[r](!\n", "x.conf").unwrap_err();
    assert!(matches!(e, ConfigError::NoClosingParen { line: 1, .. }));
    let e = Config::parse("a=b\n", "x.conf").unwrap_err();
    assert!(matches!(e, ConfigError::NoSection { line: 1, .. }));
}

#[test]
fn comments_end_a_line_and_an_escaped_semicolon_is_kept() {
    let c = parse("[a]\npassword=ab\\;cd ; the password\nsecret=ab;cd\n");
    let a = c.section("a").unwrap();
    let p = a.get("password").unwrap();
    assert_eq!((p.value.as_str(), p.cut_by_comment), ("ab;cd", false));
    let s = a.get("secret").unwrap();
    assert_eq!((s.value.as_str(), s.cut_by_comment), ("ab", true));
}

#[test]
fn block_comments_span_lines_and_nest() {
    let c = parse("[a]\nx=1 ;-- start\n[b]\ny=2 ;-- inner --;\nstill --; z=3\nw=4\n");
    let a = c.section("a").unwrap();
    assert!(c.section("b").is_none());
    assert_eq!(a.text("x"), Some("1"));
    assert_eq!(a.text("z"), Some("3"));
    assert_eq!(a.get("w").unwrap().line, 6);
}

#[test]
fn whitespace_is_stripped_but_kept_in_the_raw_value_and_quotes_stay() {
    let c = parse("[a]\n  password =  \"s3cret\" \t\nusername=bob \n");
    let a = c.section("a").unwrap();
    let p = a.get("password").unwrap();
    assert_eq!(p.value, "\"s3cret\"");
    assert_eq!(p.raw, "  \"s3cret\" \t");
    assert_eq!(a.get("username").unwrap().raw, "bob ");
}

#[test]
fn an_arrow_is_an_equals_and_repeated_keys_stay_in_order() {
    let c = parse("[general]\nregister => a:b@c\nregister=>d@e\n");
    let g = c.section("general").unwrap();
    let all: Vec<_> = g
        .all("register")
        .map(|v| (v.value.as_str(), v.arrow))
        .collect();
    assert_eq!(all, [("a:b@c", true), ("d@e", true)]);
}

#[test]
fn plus_equals_appends_to_the_last_value() {
    let c = parse("[a]\nallow=ulaw\nallow+=,alaw\n");
    assert_eq!(c.section("a").unwrap().text("allow"), Some("ulaw,alaw"));
}

#[test]
fn lines_asterisk_ignores_are_listed_not_fatal() {
    let c = parse("[a]\njunk\n= v\n#frobnicate x\n#exec /bin/true\n");
    let whys: Vec<_> = c.ignored.iter().map(|i| (i.line, i.why.clone())).collect();
    assert_eq!(
        whys,
        [
            (2, IgnoredWhy::NoEquals),
            (3, IgnoredWhy::NoName),
            (4, IgnoredWhy::UnknownDirective("frobnicate".into())),
            (5, IgnoredWhy::Exec)
        ]
    );
}

#[test]
fn includes_resolve_against_the_config_dir_with_globs_and_tryinclude() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("trunks")).unwrap();
    std::fs::write(
        d.join("pjsip.conf"),
        "[global]\ntype=global\n#include \"trunks/*.conf\"\n#tryinclude <missing.conf>\n",
    )
    .unwrap();
    std::fs::write(d.join("trunks/b.conf"), "[b]\ntype=aor\n").unwrap();
    // Relative to the configuration directory, not to trunks/.
    std::fs::write(
        d.join("trunks/a.conf"),
        "[a]\ntype=auth\n#include common.conf\n",
    )
    .unwrap();
    std::fs::write(d.join("common.conf"), "[c]\ntype=endpoint\n").unwrap();
    let c = Config::load(d, "pjsip.conf").unwrap();
    let names: Vec<_> = c.sections.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["global", "a", "c", "b"]);
    assert_eq!(c.section("c").unwrap().file, d.join("common.conf"));
    assert_eq!(c.files.len(), 4);
}

#[test]
fn a_missing_include_and_a_cycle_are_errors_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("a.conf"), "[x]\n\n#include b.conf\n").unwrap();
    std::fs::write(d.join("b.conf"), "#include a.conf\n").unwrap();
    std::fs::write(d.join("c.conf"), "#include nope.conf\n").unwrap();
    let e = Config::load(d, "a.conf").unwrap_err();
    assert!(
        matches!(e, ConfigError::IncludeCycle { line: 1, .. }),
        "{e}"
    );
    let e = Config::load(d, "c.conf").unwrap_err();
    assert!(
        e.to_string().ends_with(
            "c.conf:1: #include nope.conf: no such file (use #tryinclude for an optional file)"
        ),
        "{e}"
    );
    assert!(matches!(
        Config::load(d, "none.conf"),
        Err(ConfigError::Io { .. })
    ));
}

#[test]
fn wildcards_match_as_the_shell_does() {
    assert!(wildcard(b"*.conf", b"a.conf"));
    assert!(!wildcard(b"*.conf", b"a.confx"));
    assert!(wildcard(b"t?[0-9][!x]", b"ta5y"));
    assert!(!wildcard(b"t?[0-9][!x]", b"ta5x"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, rng_seed: proptest::test_runner::RngSeed::Fixed(27), ..ProptestConfig::default() })]
    #[test]
    fn any_bytes_read_to_a_config_or_an_error_never_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let dir = tempfile::tempdir().unwrap();
        let _ = Config::parse_bytes(&bytes, Path::new("fuzz.conf"), dir.path());
    }

    #[test]
    fn config_like_lines_never_panic(lines in proptest::collection::vec("[\\[\\]();=>+!#\\\\ a-z-]{0,12}", 0..24)) {
        let dir = tempfile::tempdir().unwrap();
        let text = lines.join("\n");
        let _ = Config::parse_bytes(text.as_bytes(), Path::new("fuzz.conf"), dir.path());
    }
}
