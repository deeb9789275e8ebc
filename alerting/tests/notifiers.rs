//! What each kind of notifier sends, seen by a real local HTTP receiver, and email through
//! a real SMTP server. Retries, timeouts and failing notifiers: `notify_delivery.rs`.
#![allow(clippy::unwrap_used)]

mod support;

use gatehouse_alerting::Notification;
use gatehouse_config::alerting::notifiers::{
    DiscordNotifier, EmailNotifier, NotifierKind, NtfyNotifier, OpsgenieNotifier,
    PagerDutyNotifier, SlackNotifier, SmtpTls, TeamsNotifier, TelegramNotifier, WebhookNotifier,
};
use gatehouse_config::alerting::Severity;
use gatehouse_config::secret::Secret;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use support::receiver::Receiver;
use support::smtp::Smtp;
use support::*;

/// Send `n` to a notifier of `kind` and return what the receiver saw.
async fn one(kind: NotifierKind, n: &Notification, rx: &Receiver) -> support::receiver::Seen {
    let (notifiers, _) = start(&[notifier("x", kind)]);
    notifiers.send("x", n).await.unwrap();
    rx.wait_for(1).await.pop().unwrap()
}

#[tokio::test]
async fn webhook_posts_the_notification_json_signed() {
    let rx = Receiver::start().await;
    let kind = NotifierKind::Webhook(WebhookNotifier {
        url: Secret(format!("{}/hook?src=gh", rx.url)),
        headers: vec![("x-team".into(), secret("ops"))],
        secret: Some(secret("s3cret")),
        template: None,
        content_type: "application/json".into(),
    });
    let n = firing();
    let req = one(kind, &n, &rx).await;
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/hook?src=gh")
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("x-team"), Some("ops"));
    // The documented schema.
    let body = req.json();
    assert_eq!(body["version"], 1);
    assert_eq!(body["status"], "firing");
    assert_eq!(body["title"], n.title);
    assert_eq!(body["severity"], "critical");
    assert_eq!(body["group_key"], GROUP);
    assert_eq!(body["dedup_key"], n.dedup_key);
    assert_eq!(body["instance"], "gh-test");
    assert_eq!(body["sent_at"], "2025-05-01T10:01:00Z");
    assert_eq!(body["alerts"][0]["subject"], "api");
    assert_eq!(body["alerts"][0]["summary"], "api is down: status was 503");
    assert_eq!(body["alerts"][0]["runbook"], RUNBOOK);
    assert_eq!(body["alerts"][0]["labels"]["group"], "api");
    assert!(body["alerts"][1].get("runbook").is_none());
    // The signature, computed here with another HMAC implementation.
    let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
    mac.update(&req.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        req.header("x-gatehouse-signature"),
        Some(format!("sha256={expected}").as_str())
    );
}

#[tokio::test]
async fn webhook_templates_escape_for_json_and_set_the_content_type() {
    let rx = Receiver::start().await;
    let template = |t: &str, ct: &str| {
        NotifierKind::Webhook(WebhookNotifier {
            url: Secret(rx.url.clone()),
            headers: Vec::new(),
            secret: None,
            template: Some(t.into()),
            content_type: ct.into(),
        })
    };
    let n = firing();
    let json = template(
        r#"{"msg": "{{title}}", "text": "{{text}}", "key": "{{ dedup_key }}", "all": {{json}}}"#,
        "application/json",
    );
    let body = one(json, &n, &rx).await.json();
    assert_eq!(body["msg"], n.title);
    assert_eq!(body["text"], n.text());
    assert_eq!(body["key"], n.dedup_key);
    assert_eq!(body["all"]["group_key"], GROUP);
    let plain = template(
        "{{status}}/{{severity}}: {{title}} [{{group_key}}]",
        "text/plain",
    );
    let req = one(plain, &n, &rx).await;
    assert_eq!(req.header("content-type"), Some("text/plain"));
    assert_eq!(
        String::from_utf8(req.body).unwrap(),
        format!("firing/critical: {} [{GROUP}]", n.title)
    );
}

#[tokio::test]
async fn slack_discord_and_teams_payloads() {
    let rx = Receiver::start().await;
    let url = || Secret(format!("{}/services/T0/B0/x", rx.url));
    let n = firing();

    let slack = one(
        NotifierKind::Slack(SlackNotifier { webhook_url: url() }),
        &n,
        &rx,
    )
    .await;
    assert_eq!(slack.path, "/services/T0/B0/x");
    let s = slack.json();
    assert_eq!(s["text"], n.title);
    assert_eq!(s["attachments"][0]["color"], "#E01E5A");
    let blocks = s["attachments"][0]["blocks"].to_string();
    assert!(blocks.contains("api is down: status was 503"), "{blocks}");
    assert!(blocks.contains(&format!("<{RUNBOOK}|runbook>")), "{blocks}");
    assert!(
        blocks.contains("&amp; &lt;rising&gt;"),
        "Slack escaping: {blocks}"
    );
    let resolved = one(
        NotifierKind::Slack(SlackNotifier { webhook_url: url() }),
        &resolved(),
        &rx,
    )
    .await;
    assert_eq!(resolved.json()["attachments"][0]["color"], "#2EB67D");

    let d = one(
        NotifierKind::Discord(DiscordNotifier { webhook_url: url() }),
        &n,
        &rx,
    )
    .await
    .json();
    assert_eq!(d["content"], n.title);
    assert_eq!(d["embeds"][0]["title"], n.title);
    assert_eq!(d["embeds"][0]["color"], 0xE01E5A);
    assert!(d["embeds"][0]["description"]
        .as_str()
        .unwrap()
        .contains("api is down"));
    assert_eq!(d["allowed_mentions"]["parse"], serde_json::json!([]));

    let t = one(
        NotifierKind::Teams(TeamsNotifier { webhook_url: url() }),
        &n,
        &rx,
    )
    .await
    .json();
    assert_eq!(t["type"], "message");
    let card = &t["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["content"]["type"], "AdaptiveCard");
    assert_eq!(card["content"]["version"], "1.4");
    assert_eq!(card["content"]["body"][0]["text"], n.title);
    assert_eq!(card["content"]["body"][0]["color"], "Attention");
    assert_eq!(card["content"]["actions"][0]["url"], RUNBOOK);
}

#[tokio::test]
async fn pagerduty_triggers_then_resolves_with_one_dedup_key() {
    let rx = Receiver::start().await;
    let kind = NotifierKind::PagerDuty(PagerDutyNotifier {
        routing_key: secret("R0UTING"),
        url: format!("{}/v2/enqueue", rx.url),
    });
    let (notifiers, _) = start(&[notifier("pd", kind)]);
    notifiers.send("pd", &firing()).await.unwrap();
    notifiers.send("pd", &resolved()).await.unwrap();
    let seen = rx.wait_for(2).await;
    let (trigger, resolve) = (seen[0].json(), seen[1].json());
    assert!(seen
        .iter()
        .all(|r| r.path == "/v2/enqueue" && r.method == "POST"));
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(trigger["routing_key"], "R0UTING");
    assert_eq!(resolve["routing_key"], "R0UTING");
    assert_eq!(trigger["dedup_key"], firing().dedup_key);
    assert_eq!(resolve["dedup_key"], trigger["dedup_key"]);
    let p = &trigger["payload"];
    assert_eq!(p["severity"], "critical");
    assert_eq!(p["source"], "gh-test");
    assert_eq!(p["summary"], firing().title);
    assert_eq!(p["custom_details"]["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(trigger["links"][0]["href"], RUNBOOK);

    // One firing alert: its summary joins the title; long summaries are cut to 1024.
    let mut n = firing();
    n.alerts.truncate(1);
    n.severity = Severity::Warning;
    n.alerts[0].summary = "x".repeat(2000);
    notifiers.send("pd", &n).await.unwrap();
    let p = rx.wait_for(3).await[2].json()["payload"].clone();
    assert_eq!(p["severity"], "warning");
    let summary = p["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(&format!("{}: xxx", n.title)),
        "{summary}"
    );
    assert!(summary.chars().count() <= 1024);
}

#[tokio::test]
async fn opsgenie_creates_then_closes_by_alias() {
    let rx = Receiver::start().await;
    let kind = NotifierKind::Opsgenie(OpsgenieNotifier {
        api_key: secret("k3y"),
        url: rx.url.clone(),
    });
    let (notifiers, _) = start(&[notifier("og", kind)]);
    let mut n = firing();
    n.title = format!("[FIRING:2] {}", "very-long-rule-name ".repeat(10));
    notifiers.send("og", &n).await.unwrap();
    notifiers.send("og", &resolved()).await.unwrap();
    let seen = rx.wait_for(2).await;
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", "/v2/alerts")
    );
    let create = seen[0].json();
    assert_eq!(create["alias"], n.dedup_key);
    assert_eq!(create["priority"], "P1");
    assert!(create["message"].as_str().unwrap().chars().count() <= 130);
    assert!(create["description"]
        .as_str()
        .unwrap()
        .contains("api is down"));
    assert_eq!(
        seen[1].path,
        format!("/v2/alerts/{}/close?identifierType=alias", n.dedup_key)
    );
    for r in &seen {
        assert_eq!(r.header("authorization"), Some("GenieKey k3y"));
    }
}

#[tokio::test]
async fn ntfy_and_telegram_payloads() {
    let rx = Receiver::start().await;
    let n = firing();
    let ntfy = NotifierKind::Ntfy(NtfyNotifier {
        url: rx.url.clone(),
        topic: "ops-alerts".into(),
        token: Some(secret("tk_1")),
    });
    let req = one(ntfy, &n, &rx).await;
    assert_eq!(req.path, "/");
    assert_eq!(req.header("authorization"), Some("Bearer tk_1"));
    let body = req.json();
    assert_eq!(
        (body["topic"].as_str(), body["priority"].as_i64()),
        (Some("ops-alerts"), Some(5))
    );
    assert_eq!(body["title"], n.title);
    assert!(body["tags"]
        .as_array()
        .unwrap()
        .contains(&"rotating_light".into()));
    assert_eq!(body["click"], RUNBOOK);

    let telegram = NotifierKind::Telegram(TelegramNotifier {
        bot_token: secret("123:ABC-d_e"),
        chat_id: "-100123".into(),
        api_url: rx.url.clone(),
    });
    let req = one(telegram, &n, &rx).await;
    assert_eq!(req.path, "/bot123:ABC-d_e/sendMessage");
    let body = req.json();
    assert_eq!(body["chat_id"], "-100123");
    assert_eq!(body["parse_mode"], "HTML");
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with("<b>[FIRING:2] probe-down (group=api)</b>"),
        "{text}"
    );
    assert!(text.contains("p95 &gt; 2s &amp; &lt;rising&gt;"), "{text}");
    assert!(
        text.contains(&format!("<a href=\"{RUNBOOK}\">runbook</a>")),
        "{text}"
    );
}

#[tokio::test]
async fn email_through_a_real_smtp_server() {
    let smtp = Smtp::start();
    let kind = NotifierKind::Email(EmailNotifier {
        host: "127.0.0.1".into(),
        port: smtp.port,
        tls: SmtpTls::None,
        username: None,
        password: None,
        from: "Gatehouse <alerts@example.com>".into(),
        to: vec![
            "ops@example.com".into(),
            "On Call <oncall@example.org>".into(),
        ],
    });
    let (notifiers, registry) = start(&[notifier("mail", kind)]);
    let n = firing();
    notifiers.send("mail", &n).await.unwrap();
    let mail = smtp.wait_for(1).await.remove(0);
    assert_eq!(mail["mail_from"], "alerts@example.com");
    assert_eq!(
        mail["rcpt_tos"],
        serde_json::json!(["ops@example.com", "oncall@example.org"])
    );
    assert_eq!(mail["subject"], n.title);
    assert_eq!(mail["from"], "Gatehouse <alerts@example.com>");
    let to = mail["to"].as_str().unwrap();
    assert!(
        to.contains("ops@example.com") && to.contains("On Call <oncall@example.org>"),
        "{to}"
    );
    assert_eq!(mail["references"], format!("<{}@gatehouse>", n.dedup_key));
    assert_eq!(mail["content_type"], "text/plain");
    let body = mail["body"].as_str().unwrap();
    assert!(
        body.contains("[FIRING] api — api is down: status was 503"),
        "{body}"
    );
    assert!(body.contains(&format!("runbook: {RUNBOOK}")), "{body}");
    let ok = [("notifier", "mail"), ("result", "ok")];
    assert_eq!(metric(&registry, "gatehouse_notifications_total", &ok), 1.0);
}
