//! Done means: with the milter configured but not running, Postfix answers 4xx (the sender
//! retries later), never 250, and nothing is delivered.

use smtpy_e2e::{
    MilterMode, Stack, StackOptions,
    fixture::{self, DOMAIN, SENDER},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn milter_down_tempfails_with_4xx() {
    let options = StackOptions { milter: MilterMode::Down, ..StackOptions::default() };
    let stack = Stack::start_with("milterdown", options).await.unwrap();
    let alias = format!("anything@{DOMAIN}");

    let tx = stack.send(SENDER, &[&alias], &fixture::message(&alias, "milter down")).await.unwrap();
    let replies = std::iter::once(&tx.mail).chain(&tx.rcpts).chain(&tx.data).chain(&tx.end_of_data);
    let refusal = replies.clone().find(|r| !r.is_positive());
    let refusal = refusal.unwrap_or_else(|| panic!("Postfix accepted mail without its milter: {tx:?}"));
    assert_eq!(refusal.code / 100, 4, "expected a temporary failure, got {refusal}\n{}", stack.logs());
    assert!(!tx.accepted());
    assert!(replies.clone().all(|r| r.code / 100 != 5), "{tx:?}");

    assert_eq!(stack.postfix.queued_messages().unwrap(), 0);
    assert!(stack.sink.delivered().is_empty());
}
