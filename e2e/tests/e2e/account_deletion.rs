//! Deleting a user removes everything they own in one statement, even while their aliases
//! still target their mailboxes (each cascade is checked when its own query ends, so the
//! mailbox check used to run before the alias links were gone); a mailbox that an alias
//! targets still cannot be deleted alone.

use smtpy_e2e::{
    Admin, Secrets, TempDir, TestDb,
    fixture::{self, DOMAIN, MAILBOX_1, MAILBOX_2, OWNER},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_user_whose_aliases_target_their_mailboxes_removes_everything() {
    let dir = TempDir::new("account-deletion").unwrap();
    let db = TestDb::create().await.unwrap();
    let secrets = Secrets::create_in(dir.path()).unwrap();
    let admin = Admin::new(db.url()).unwrap().with_env(secrets.env());
    fixture::seed(&admin).await.unwrap();
    admin.add_alias(&format!("shop@{DOMAIN}"), &[MAILBOX_1, MAILBOX_2]).await.unwrap();
    admin.add_alias(&format!("news@{DOMAIN}"), &[MAILBOX_2]).await.unwrap();
    let client = db.client().await.unwrap();
    let count = |table: &'static str| {
        let client = &client;
        async move { client.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.unwrap().get::<_, i64>(0) }
    };
    assert_eq!(count("alias_mailboxes").await, 3);

    // Alone, a targeted mailbox stays: the owner must retarget the alias first.
    let refused = client.execute("DELETE FROM mailboxes WHERE address = $1", &[&MAILBOX_2]).await.unwrap_err();
    assert_eq!(refused.code().map(|c| c.code()), Some("23503"), "{refused}");
    assert_eq!(count("mailboxes").await, 2);

    let deleted = client.execute("DELETE FROM users WHERE email = $1", &[&OWNER]).await;
    assert_eq!(deleted.unwrap_or_else(|e| panic!("deleting the user: {e}")), 1);
    for table in ["users", "domains", "mailboxes", "aliases", "alias_mailboxes"] {
        assert_eq!(count(table).await, 0, "{table} kept rows of the deleted user");
    }
}
