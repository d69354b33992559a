//! Done means: `smtpy-admin domain dkim generate` stores DKIM keys sealed (never the plain
//! private key), prints zone-file records whose keys verify signatures made with the stored
//! keys once opened with the key file, and a missing key file is a clear error.

use smtpy_e2e::{
    Admin, Secrets, TempDir, TestDb,
    fixture::{self, DOMAIN},
};
use smtpy_shared::{
    dkim_keys::{self, DkimAlgorithm},
    sealed::SealKey,
};

/// A seeded database and a CLI pointed at fresh secret files: no Postfix or milter needed.
async fn setup(label: &str) -> (TempDir, TestDb, Secrets, Admin) {
    let dir = TempDir::new(label).unwrap();
    let db = TestDb::create().await.unwrap();
    let secrets = Secrets::create_in(dir.path()).unwrap();
    let admin = Admin::new(db.url()).unwrap().with_env(secrets.env());
    fixture::seed(&admin).await.unwrap();
    (dir, db, secrets, admin)
}

/// A zone-file line `NAME. IN TXT "a" "b"` as (NAME, the strings).
fn parse_zone_line(line: &str) -> (String, Vec<String>) {
    let (name, rest) = line.split_once(". IN TXT ").unwrap_or_else(|| panic!("not a TXT line: {line}"));
    let strings: Vec<String> = rest.split('"').skip(1).step_by(2).map(str::to_owned).collect();
    assert_eq!(rest.matches('"').count(), strings.len() * 2, "unbalanced quotes: {line}");
    (name.to_owned(), strings)
}

/// The records in the CLI's output (lines that are not `;` comments), by name.
fn records(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|line| {
            let (name, strings) = parse_zone_line(line);
            assert!(strings.iter().all(|s| s.len() <= 255), "a string over 255 bytes: {line}");
            (name, strings.concat())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_stores_sealed_keys_and_prints_records_that_verify() {
    let (_dir, db, secrets, admin) = setup("dkim-cli").await;
    let out = admin.run(&["domain", "dkim", "generate", DOMAIN, "--selector", "s1", "--ed25519"]).await.unwrap();
    let printed = records(&out);
    let expected_names = [format!("s1._domainkey.{DOMAIN}"), format!("s1-ed25519._domainkey.{DOMAIN}")];
    assert_eq!(printed.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(), expected_names, "{out}");
    assert!(printed[0].1.starts_with("v=DKIM1; k=rsa; p="), "{out}");
    assert!(printed[1].1.starts_with("v=DKIM1; k=ed25519; p="), "{out}");

    let rows = db
        .client()
        .await
        .unwrap()
        .query(
            "SELECT selector, algorithm, private_key_sealed, public_key, active FROM dkim_keys ORDER BY selector",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let seal = SealKey::load(secrets.key_file()).unwrap();
    for (row, (_, record)) in rows.iter().zip(&printed) {
        let (selector, algorithm): (String, String) = (row.get(0), row.get(1));
        let (sealed, public_key): (String, String) = (row.get(2), row.get(3));
        assert!(row.get::<_, bool>(4), "{selector} is not active");
        assert!(record.ends_with(&format!("p={public_key}")), "{record} vs {public_key}");
        assert!(sealed.starts_with("v1:"), "{sealed}");
        // Not PEM; that it is not the DER in base64 either is checked below, once the key is
        // opened (a first-character test would fail one run in 64 on random ciphertext).
        assert!(!sealed.contains("BEGIN"), "{sealed}");

        let algorithm: DkimAlgorithm = algorithm.parse().unwrap();
        let context = dkim_keys::seal_context(DOMAIN, &selector, algorithm);
        let der = seal.open(&sealed, &context).unwrap();
        assert!(!sealed.contains(&base64_head(&der)), "the sealed value shows the plain key");
        dkim_keys::signing_key(algorithm, &der).unwrap();
        // The printed record verifies a signature made with the stored key.
        dkim_keys::check_key_pair(algorithm, &der, record, DOMAIN, &selector).await.unwrap();
        // Sealed for this row only: another domain's context does not open it.
        assert!(seal.open(&sealed, &dkim_keys::seal_context("other.test", &selector, algorithm)).is_err());
    }

    let shown = admin.run(&["domain", "dkim", "show", DOMAIN]).await.unwrap();
    assert_eq!(records(&shown), printed, "{shown}");

    let again = admin.output(&["domain", "dkim", "generate", DOMAIN, "--selector", "s1"], None).await.unwrap();
    assert!(!again.success && again.stderr.contains("already has a DKIM key with selector s1"), "{again:?}");
    let unknown = admin.output(&["domain", "dkim", "generate", "nowhere.test"], None).await.unwrap();
    assert!(!unknown.success && unknown.stderr.contains("nowhere.test is not hosted"), "{unknown:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_key_file_is_a_clear_error() {
    let (dir, db, _secrets, admin) = setup("dkim-nokey").await;
    let missing = dir.path().join("no-such.key");
    let admin = admin.with_env([("SMTPY_SECRETS_KEY_FILE".to_owned(), missing.display().to_string())]);
    let out = admin.output(&["domain", "dkim", "generate", DOMAIN], None).await.unwrap();
    assert!(!out.success, "{out:?}");
    let wanted = format!("head -c 32 /dev/urandom | base64 > {}", missing.display());
    assert!(out.stderr.contains("does not exist") && out.stderr.contains(&wanted), "{}", out.stderr);
    let stored: i64 = db.client().await.unwrap().query_one("SELECT count(*) FROM dkim_keys", &[]).await.unwrap().get(0);
    assert_eq!(stored, 0);
}

/// The base64 of the first 24 bytes of `bytes` (a run no ciphertext shares by chance).
fn base64_head(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    bytes[..24]
        .chunks(3)
        .flat_map(|c| {
            let n = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
            [18, 12, 6, 0].map(|shift| char::from(ALPHABET[((n >> shift) & 63) as usize]))
        })
        .collect()
}
