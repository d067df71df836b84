//! The CLI on the TLS topology (TLS data nodes and Sentinels, passwords on both): a
//! `rediss+sentinel://…?ca=` URL with the passwords from the environment, the `--tls-*`
//! flags with a password from `--password-env` and one read by `--ask-sentinel-password`
//! from stdin, and exit status 2 for a CA that did not sign the masters' certificates, a
//! missing CA file and a wrong password.

use super::json::J;
use super::run::{Out, cli_with};
use crate::support::{Access, Spec, Topology};

const DATA_PW: &str = "cli-tls-data-pw";
const SENTINEL_PW: &str = "cli-tls-sentinel-pw";

fn topology() -> Topology {
    let access = Access::tls_everywhere(DATA_PW, SENTINEL_PW);
    Topology::start_with(Spec::default(), access)
}

fn sentinel_flags(topo: &Topology) -> Vec<String> {
    topo.sentinel_addrs().iter().flat_map(|s| ["--sentinel".into(), s.clone()]).collect()
}

fn run(args: &[String], envs: &[(&str, Option<&str>)], stdin: Option<&str>) -> Out {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    cli_with(&refs, envs, stdin)
}

#[test]
fn tls_from_a_url_or_flags_with_passwords_from_env_and_prompt() {
    let topo = topology();
    let ca = topo.dir().join("tls").join("ca.crt").display().to_string();
    // `topology` asks each Sentinel once, within `sentinel_timeout`: the 250 ms default
    // is too short for a TLS handshake on a loaded 2-core machine (seen in CI: both
    // Sentinels "timed out").
    let url = format!("rediss+sentinel://{}/?ca={ca}&sentinel_timeout=2000", topo.sentinel_addrs().join(","));
    let env = [("DISREDIS_PASSWORD", Some(DATA_PW)), ("DISREDIS_SENTINEL_PASSWORD", Some(SENTINEL_PW))];
    let by_url = |rest: &[&str]| {
        let mut args = vec!["--url".to_owned(), url.clone()];
        args.extend(rest.iter().map(|s| s.to_string()));
        run(&args, &env, None)
    };
    let out = by_url(&["set", "cli-tls:k", "over TLS"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(by_url(&["get", "cli-tls:k"]).stdout, "over TLS\n");
    let doc = J::parse(&by_url(&["--json", "topology"]).stdout);
    for shard in doc.get("shards").arr() {
        assert_eq!(shard.get("role_ok"), &J::Bool(true), "{shard:?}");
        assert_eq!(shard.get("sentinels_agree").num(), 2.0, "both TLS Sentinels asked: {shard:?}");
    }

    // Flags instead of a URL: --tls-ca, the data password from a named variable, the
    // Sentinels' read from stdin (no terminal here) by --ask-sentinel-password.
    let mut args = sentinel_flags(&topo);
    args.extend(
        ["--tls-ca", &ca, "--password-env", "MY_PW", "--ask-sentinel-password", "get", "cli-tls:k"]
            .map(String::from),
    );
    let out = run(&args, &[("MY_PW", Some(DATA_PW))], Some(&format!("{SENTINEL_PW}\n")));
    assert_eq!((out.code, out.stdout.as_str()), (0, "over TLS\n"), "{}", out.stderr);
    assert!(!out.stderr.contains(SENTINEL_PW) && !out.stderr.contains(DATA_PW), "{}", out.stderr);

    // A CA that signed neither kind for the data nodes, the right one for the Sentinels:
    // the Sentinels answer, the masters' certificates are rejected: exit 2 naming TLS.
    let wrong = crate::tls::url::other_ca(&topo.dir().join("cli-wrong-ca")).display().to_string();
    let mut args = sentinel_flags(&topo);
    args.extend(["--tls-ca", &wrong, "--sentinel-tls-ca", &ca, "ping"].map(String::from));
    let out = run(&args, &env, None);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("TLS") && out.stderr.contains("master"), "{}", out.stderr);

    // The flag refines the URL: its CA replaces the URL's ca= for the data nodes.
    let out = run(
        &[
            "--url".into(),
            url.clone(),
            "--tls-ca".into(),
            wrong.clone(),
            "--sentinel-tls-ca".into(),
            ca.clone(),
            "ping".into(),
        ],
        &env,
        None,
    );
    assert_eq!(out.code, 2, "{}", out.stderr);

    // A missing CA file: exit 2 naming the flag and the path, before connecting.
    let missing = topo.dir().join("missing.crt").display().to_string();
    let mut args = sentinel_flags(&topo);
    args.extend(["--tls-ca", &missing, "ping"].map(String::from));
    let out = run(&args, &env, None);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--tls-ca") && out.stderr.contains(&missing), "{}", out.stderr);

    // A wrong data password: exit 2 (refused credentials), the password not echoed.
    let out = run(
        &["--url".into(), url.clone(), "ping".into()],
        &[("DISREDIS_PASSWORD", Some("wrong-pw-XYZ")), env[1]],
        None,
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(!out.stderr.contains("wrong-pw-XYZ"), "{}", out.stderr);
    // --ask-password with nothing on stdin: exit 2 saying no password was read.
    let mut args = sentinel_flags(&topo);
    args.extend(["--tls-ca", &ca, "--ask-password", "ping"].map(String::from));
    let out = run(&args, &env, Some(""));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("no data nodes password read"), "{}", out.stderr);
}
