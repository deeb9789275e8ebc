//! `type: email`: SMTP with lettre (tokio, rustls with ring). Subject is the title, the body
//! the plain-text rendering; notifications of one group share a `References` header so mail
//! clients thread firing and resolved together.

use super::http::Ctx;
use super::{Deliver, NotifyError};
use crate::Notification;
use async_trait::async_trait;
use gatehouse_config::alerting::notifiers::{EmailNotifier, SmtpTls};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

pub(super) struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl Email {
    pub(super) fn new(
        name: &str,
        c: &EmailNotifier,
        timeout: Duration,
    ) -> Result<Email, NotifyError> {
        let setup = |message: String| NotifyError::Setup {
            name: name.to_string(),
            message,
        };
        let mailbox = |addr: &str| {
            addr.parse::<Mailbox>()
                .map_err(|e| setup(format!("`{addr}` is not an email address: {e}")))
        };
        let host = c.host.trim_start_matches('[').trim_end_matches(']');
        let builder = match c.tls {
            SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
            SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                host,
            )),
        }
        .map_err(|e| setup(format!("cannot set up TLS for `{host}`: {e}")))?;
        let mut builder = builder.port(c.port).timeout(Some(timeout));
        if let (Some(user), Some(password)) = (&c.username, &c.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.0.clone()));
        }
        Ok(Email {
            transport: builder.build(),
            from: mailbox(&c.from)?,
            to: c.to.iter().map(|t| mailbox(t)).collect::<Result<_, _>>()?,
        })
    }

    fn message(&self, n: &Notification) -> Result<Message, NotifyError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(n.title.clone())
            .references(format!("<{}@gatehouse>", n.dedup_key))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder.body(n.text()).map_err(|e| NotifyError::Email {
            message: format!("cannot build the message: {e}"),
            retryable: false,
        })
    }
}

#[async_trait]
impl Deliver for Email {
    async fn deliver(&self, _ctx: &Ctx<'_>, n: &Notification) -> Result<(), NotifyError> {
        let message = self.message(n)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| NotifyError::Email {
                retryable: !e.is_permanent(),
                message: e.to_string(),
            })
    }
}
