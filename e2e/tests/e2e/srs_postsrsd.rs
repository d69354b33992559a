//! Done means: our SRS is interchangeable with Debian's postsrsd (1.10) on one secret file of
//! two lines (new first, old second): postsrsd reverses our SRS0 and SRS1 addresses and we
//! reverse its forwards, our forwards are byte-for-byte the ones postsrsd makes, and an
//! address signed with the old line verifies on both sides. postsrsd runs as a child process
//! on free loopback ports and is spoken to over Postfix's tcp_table protocol.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use smtpy_shared::hmac_secrets::SecretSet;
use smtpy_shared::srs::{Srs, SrsError};

const SRS_DOMAIN: &str = "fwd.example";
const NEW: &str = "9p1BZ0sQ+new-secret";
const OLD: &str = "Tq2c1lX/old-secret";
const READY_WITHIN: Duration = Duration::from_secs(10);

/// postsrsd in the foreground on two free loopback ports; killed on drop.
///
/// postsrsd forks a child per connection and reaps it lazily, so killing it leaves zombies
/// to PID 1, which on these machines never reaps them. Where we may (root), postsrsd runs as
/// init of its own PID namespace (`unshare --pid --fork`): when it dies the kernel reaps its
/// children, and `unshare` reaps postsrsd.
struct Postsrsd {
    /// `unshare` when `isolated`, else postsrsd itself.
    child: Child,
    isolated: bool,
    forward: SocketAddr,
    reverse: SocketAddr,
    dir: PathBuf,
}

impl Postsrsd {
    /// Starts postsrsd with `secrets` as its secret file and waits until both tables answer.
    fn start(name: &str, secrets: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("smtpy-srs-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret_file = dir.join("postsrsd.secret");
        std::fs::write(&secret_file, secrets).unwrap();
        // A port picked by binding :0 can be taken again before postsrsd binds it; try anew.
        let mut last_error = String::new();
        let mut isolated = true;
        for _ in 0..4 {
            match Self::try_start(&dir, &secret_file, isolated) {
                Ok((child, forward, reverse)) => {
                    return Self { child, isolated, forward, reverse, dir };
                }
                // Not allowed a PID namespace (not root): run postsrsd directly.
                Err(error) if isolated && error.contains("unshare") => isolated = false,
                Err(error) => last_error = error,
            }
        }
        panic!("postsrsd did not start: {last_error}");
    }

    fn try_start(dir: &Path, secret_file: &Path, isolated: bool) -> Result<(Child, SocketAddr, SocketAddr), String> {
        let (forward, reverse) = (free_port(), free_port());
        let log = std::fs::File::create(dir.join("stderr")).unwrap();
        let mut command = if isolated {
            let mut unshare = Command::new("unshare");
            unshare.args(["--pid", "--fork", "--kill-child", postsrsd_binary()]);
            unshare
        } else {
            Command::new(postsrsd_binary())
        };
        let mut child = command
            .arg("-s")
            .arg(secret_file)
            .args(["-d", SRS_DOMAIN, "-l", "127.0.0.1", "-4"])
            .args(["-f", &forward.port().to_string(), "-r", &reverse.port().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run {command:?} ({e}); postsrsd comes from `apt-get install postsrsd`, unshare from util-linux"))?;
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let stderr = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
                return Err(format!("postsrsd exited with {status}: {stderr}"));
            }
            if TcpStream::connect(forward).is_ok() && TcpStream::connect(reverse).is_ok() {
                return Ok((child, forward, reverse));
            }
            if Instant::now() > deadline {
                stop(&mut child, isolated);
                return Err(format!("no answer on {forward} and {reverse} within {READY_WITHIN:?}"));
            }
            // Polling interval, not synchronisation: readiness is the successful connect.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// postsrsd's forward table: `Ok(rewritten)` on `200`, `Err(text)` on `500`.
    fn forward(&self, address: &str) -> Result<String, String> {
        tcp_table_get(self.forward, address)
    }

    /// postsrsd's reverse table: `Ok(original)` on `200`, `Err(text)` on `500`.
    fn reverse(&self, address: &str) -> Result<String, String> {
        tcp_table_get(self.reverse, address)
    }
}

impl Drop for Postsrsd {
    fn drop(&mut self) {
        stop(&mut self.child, self.isolated);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Kills postsrsd. When isolated, `child` is `unshare`: kill postsrsd inside (its only child),
/// which tears down the namespace, and let `unshare` reap it and exit.
fn stop(child: &mut Child, isolated: bool) {
    let pid = child.id();
    let inner = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    let inner: Vec<&str> = inner.split_whitespace().collect();
    if isolated && !inner.is_empty() {
        for pid in inner {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
    } else {
        let _ = child.kill();
    }
    let _ = child.wait();
}

fn postsrsd_binary() -> &'static str {
    if Path::new("/usr/sbin/postsrsd").exists() { "/usr/sbin/postsrsd" } else { "postsrsd" }
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// One `get` of Postfix's tcp_table protocol (tcp_table(5)): `get KEY\n` → `200 VALUE\n` or
/// `500 REASON\n`, both sides URL-encoded.
fn tcp_table_get(table: SocketAddr, key: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(table).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(format!("get {}\n", url_encode(key)).as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).unwrap();
    let line = line.trim_end();
    match line.split_once(' ') {
        Some(("200", value)) => Ok(url_decode(value)),
        Some(("500", reason)) => Err(url_decode(reason)),
        _ => panic!("unexpected tcp_table reply to {key:?}: {line:?}"),
    }
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_graphic() && b != b'%' { char::from(b).to_string() } else { format!("%{b:02X}") })
        .collect()
}

fn url_decode(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        match (byte, tail.get(..2)) {
            (b'%', Some(hex)) => {
                out.push(u8::from_str_radix(std::str::from_utf8(hex).unwrap(), 16).unwrap());
                rest = &tail[2..];
            }
            _ => {
                out.push(byte);
                rest = tail;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// Days since the epoch, the clock postsrsd uses for its timestamps.
fn today() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() / 86_400
}

/// Runs `check` with today's day number; runs it again if midnight (UTC) passed meanwhile, so
/// that postsrsd's clock and ours agree on the day.
fn on_one_day(mut check: impl FnMut(u64) -> bool) {
    for _ in 0..3 {
        let day = today();
        if check(day) && today() == day {
            return;
        }
    }
    panic!("the day changed three times during one check");
}

fn secrets(text: &str) -> SecretSet {
    SecretSet::parse(text).unwrap()
}

/// The two-line secret file both sides read.
fn rotated_file() -> String {
    format!("{NEW}\n{OLD}\n")
}

/// An SRS0 address made by a forwarder before us, with a secret neither side knows.
fn first_hop_srs0(day: u64) -> String {
    Srs::new(secrets("first-hop-secret\n")).forward("alice@example.org", "hop1.example", day).unwrap()
}

#[test]
fn srs_postsrsd_reverses_our_srs0_and_srs1_and_forwards_identically() {
    let postsrsd = Postsrsd::start("ours", &rotated_file());
    // Both sides read the same file: we parse what postsrsd was given.
    let ours = Srs::new(SecretSet::load(&postsrsd.dir.join("postsrsd.secret")).unwrap());

    on_one_day(|day| {
        // SRS0: byte-identical forwards, and postsrsd reverses ours.
        let srs0 = ours.forward("alice@example.org", SRS_DOMAIN, day).unwrap();
        assert_eq!(postsrsd.forward("alice@example.org").as_deref(), Ok(srs0.as_str()));
        assert_eq!(postsrsd.reverse(&srs0).as_deref(), Ok("alice@example.org"));
        // Hashes compare case-insensitively on postsrsd's side too.
        assert_eq!(postsrsd.reverse(&srs0.to_ascii_lowercase()).as_deref(), Ok("alice@example.org"));

        // SRS1 from a first hop's SRS0: identical again, and postsrsd returns the first hop's
        // address.
        let first_hop = first_hop_srs0(day);
        let srs1 = ours.forward(&first_hop, SRS_DOMAIN, day).unwrap();
        assert!(srs1.starts_with("SRS1="), "{srs1}");
        assert_eq!(postsrsd.forward(&first_hop).as_deref(), Ok(srs1.as_str()));
        assert_eq!(postsrsd.reverse(&srs1).as_deref(), Ok(first_hop.as_str()));

        // An SRS1 address re-wrapped by us (a third hop) still reverses to the first hop.
        let other_forwarder = Srs::new(secrets("hop2-secret\n"));
        let srs1_hop2 = other_forwarder.forward(&first_hop, "hop2.example", day).unwrap();
        let rewrapped = ours.forward(&srs1_hop2, SRS_DOMAIN, day).unwrap();
        assert_eq!(postsrsd.forward(&srs1_hop2).as_deref(), Ok(rewrapped.as_str()));
        assert_eq!(postsrsd.reverse(&rewrapped).as_deref(), Ok(first_hop.as_str()));

        // A sender already at the SRS domain is left alone by both.
        let local = format!("bob@{SRS_DOMAIN}");
        assert_eq!(ours.forward(&local, SRS_DOMAIN, day).unwrap(), local);
        assert_eq!(postsrsd.forward(&local), Ok(local.clone()));
        true
    });

    // Rotation: an address we signed when only the old secret existed still verifies at
    // postsrsd, which signs new ones with the first line.
    let before_rotation = Srs::new(secrets(&format!("{OLD}\n")));
    let day = today();
    let old_srs0 = before_rotation.forward("carol@example.net", SRS_DOMAIN, day).unwrap();
    assert_eq!(postsrsd.reverse(&old_srs0).as_deref(), Ok("carol@example.net"));
    let old_srs1 = before_rotation.forward(&first_hop_srs0(day), SRS_DOMAIN, day).unwrap();
    assert_eq!(postsrsd.reverse(&old_srs1), Ok(first_hop_srs0(day)));

    // A secret postsrsd does not have, or a tampered address, is refused.
    let stranger = Srs::new(secrets("stranger\n"));
    let foreign = stranger.forward("alice@example.org", SRS_DOMAIN, day).unwrap();
    assert!(postsrsd.reverse(&foreign).is_err(), "postsrsd accepted a foreign hash: {foreign}");
    let srs0 = ours.forward("alice@example.org", SRS_DOMAIN, day).unwrap();
    let tampered = srs0.replace("alice", "mallory");
    assert!(postsrsd.reverse(&tampered).is_err(), "postsrsd accepted {tampered}");
}

#[test]
fn srs_we_reverse_postsrsd_forwards() {
    let postsrsd = Postsrsd::start("theirs", &rotated_file());
    let ours = Srs::new(secrets(&rotated_file()));
    let day = today();

    let srs0 = postsrsd.forward("alice@example.org").unwrap();
    assert!(srs0.starts_with("SRS0="), "{srs0}");
    // The reverse must hold for the day postsrsd stamped, whichever side of midnight we are.
    let reversed = ours.reverse(&srs0, day).or_else(|_| ours.reverse(&srs0, today()));
    assert_eq!(reversed.as_deref(), Ok("alice@example.org"));
    assert_eq!(ours.reverse(&srs0.to_ascii_uppercase(), day + 1).as_deref(), Ok("ALICE@EXAMPLE.ORG"));
    // postsrsd signs with the first line: the new secret alone verifies it, the old alone not;
    // after a further rotation (a newer line in front) it still verifies.
    assert!(Srs::new(secrets(&format!("{NEW}\n"))).reverse(&srs0, day + 1).is_ok());
    assert_eq!(Srs::new(secrets(&format!("{OLD}\n"))).reverse(&srs0, day + 1), Err(SrsError::BadHash));
    let later = Srs::new(secrets(&format!("newer\n{NEW}\n{OLD}\n")));
    assert_eq!(later.reverse(&srs0, day + 2).as_deref(), Ok("alice@example.org"));
    // ... until it is 21 days old.
    assert_eq!(later.reverse(&srs0, day + 23), Err(SrsError::Expired));

    // postsrsd's SRS1 (from a first hop's SRS0) reverses to the first hop's address.
    let first_hop = first_hop_srs0(day);
    let srs1 = postsrsd.forward(&first_hop).unwrap();
    assert!(srs1.starts_with("SRS1="), "{srs1}");
    assert_eq!(ours.reverse(&srs1, day), Ok(first_hop.clone()));

    // Tampering with postsrsd's address is caught by us.
    assert_eq!(ours.reverse(&srs0.replace("alice", "mallory"), day), Err(SrsError::BadHash));
    assert_eq!(ours.reverse(&srs1.replace("hop1.example", "evil.example"), day), Err(SrsError::BadHash));
}

#[test]
fn srs_tcp_table_url_coding() {
    assert_eq!(url_encode("a b%c@d"), "a%20b%25c@d");
    assert_eq!(url_decode("a%20b%25c@d"), "a b%c@d");
}

/// End to end: the envelope sender the milter gives a transparent-mode forward is reversed
/// by Debian's postsrsd, started on the milter's own secret file, to the original sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srs_postsrsd_reverses_the_milters_envelope_sender() {
    use smtpy_e2e::{
        Stack,
        fixture::{self, DOMAIN, MAILBOX_1, SENDER},
        wait::DELIVERY_TIMEOUT,
    };
    let stack = Stack::start("srs-e2e").await.unwrap();
    let alias = format!("classic@{DOMAIN}");
    stack.admin.run(&["alias", "add", &alias, "--to", MAILBOX_1, "--mode", "transparent"]).await.unwrap();
    assert!(stack.send(SENDER, &[&alias], &fixture::message(&alias, "srs")).await.unwrap().accepted());
    let delivered = stack.sink.wait_for(1, DELIVERY_TIMEOUT).await.unwrap();
    let envelope = delivered[0].mail_from.trim_start_matches('<').trim_end_matches('>').to_owned();
    assert!(envelope.starts_with("SRS0="), "{envelope}");
    let secrets = std::fs::read_to_string(stack.secrets.srs_secret_file()).unwrap();
    let postsrsd = Postsrsd::start("milter-envelope", &secrets);
    assert_eq!(postsrsd.reverse(&envelope).unwrap(), SENDER);
}
