//! DNS probes: ask the system's resolvers or a given server for one record type, without a
//! cache, so every check is a real query.

use super::Attempt;
use gatehouse_config::probes::{DnsProbe, DnsRecordType};
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::rr::RecordType;
use hickory_resolver::TokioResolver;
use std::time::{Duration, Instant};

pub(crate) fn prepare(p: &DnsProbe, timeout: Duration) -> Result<TokioResolver, String> {
    let builder = match p.server {
        Some(server) => {
            let group = NameServerConfigGroup::from_ips_clear(&[server.ip()], server.port(), true);
            TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], group),
                TokioConnectionProvider::default(),
            )
        }
        None => TokioResolver::builder_tokio()
            .map_err(|e| format!("cannot read the system's resolver configuration: {e}"))?,
    };
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    opts.attempts = 1;
    opts.timeout = timeout;
    opts.use_hosts_file = hickory_resolver::config::ResolveHosts::Never;
    Ok(builder.with_options(opts).build())
}

fn record_type(t: DnsRecordType) -> RecordType {
    match t {
        DnsRecordType::A => RecordType::A,
        DnsRecordType::Aaaa => RecordType::AAAA,
        DnsRecordType::Cname => RecordType::CNAME,
        DnsRecordType::Mx => RecordType::MX,
        DnsRecordType::Txt => RecordType::TXT,
        DnsRecordType::Ns => RecordType::NS,
    }
}

pub(crate) async fn check(p: &DnsProbe, resolver: &TokioResolver, timeout: Duration) -> Attempt {
    let mut attempt = Attempt::default();
    let start = Instant::now();
    let wanted = record_type(p.record_type);
    let result = tokio::time::timeout(timeout, resolver.lookup(p.name.as_str(), wanted)).await;
    let elapsed = start.elapsed();
    attempt.obs.latency = Some(elapsed);
    attempt.obs.phases.dns = Some(elapsed);
    match result {
        Err(_) => attempt.error = Some(super::timeout_error(timeout, "dns")),
        Ok(Ok(lookup)) => {
            let records: Vec<String> = lookup
                .record_iter()
                .filter(|r| r.record_type() == wanted)
                .map(|r| r.data().to_string())
                .collect();
            attempt.obs.set_records(records);
        }
        Ok(Err(e)) if e.is_no_records_found() || e.is_nx_domain() => {
            attempt.obs.set_records(Vec::new());
        }
        Ok(Err(e)) => attempt.error = Some(format!("the lookup of `{}` failed: {e}", p.name)),
    }
    attempt
}
