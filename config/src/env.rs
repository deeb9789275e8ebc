//! `${VAR}` substitution in every string of the document. A missing variable is an error;
//! `$${` writes a literal `${`.

use crate::error::ConfigError;
use serde_yaml::Value;

/// Replace `${NAME}` in every string scalar of `value` with the environment variable, using
/// `lookup`. Problems are pushed to `errors` with the path of the string.
pub(crate) fn substitute(
    value: &mut Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) {
    match value {
        Value::String(s) if s.contains('$') => match expand(s, lookup) {
            Ok(out) => *s = out,
            Err(msg) => errors.push(ConfigError::new(path, msg)),
        },
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                substitute(item, &format!("{path}[{i}]"), lookup, errors);
            }
        }
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                let key = match k {
                    Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                let child = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                substitute(v, &child, lookup, errors);
            }
        }
        Value::Tagged(t) => substitute(&mut t.value, path, lookup, errors),
        _ => {}
    }
}

fn expand(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail
                .find('}')
                .ok_or_else(|| format!("unterminated `${{` in `{s}`"))?;
            let name = &tail[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "`${{{name}}}` is not a valid environment variable name"
                ));
            }
            match lookup(name) {
                Some(v) => out.push_str(&v),
                None => {
                    return Err(format!(
                        "environment variable `{name}` is not set (referenced as `${{{name}}}`)"
                    ))
                }
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        (name == "HOST").then(|| "example.com".to_string())
    }

    #[test]
    fn expands_and_reports_missing() {
        assert_eq!(
            expand("https://${HOST}/x", &lookup),
            Ok("https://example.com/x".into())
        );
        assert_eq!(
            expand("cost $5 and $${HOST}", &lookup),
            Ok("cost $5 and ${HOST}".into())
        );
        assert!(expand("${NOPE}", &lookup)
            .unwrap_err()
            .contains("`NOPE` is not set"));
        assert!(expand("${HOST", &lookup)
            .unwrap_err()
            .contains("unterminated"));
        assert!(expand("${A-B}", &lookup)
            .unwrap_err()
            .contains("not a valid"));
    }

    #[test]
    fn walks_the_document() {
        let mut v: Value = serde_yaml::from_str("a:\n  - x: ${HOST}\n  - y: ${MISSING}\n").unwrap();
        let mut errors = Vec::new();
        substitute(&mut v, "", &lookup, &mut errors);
        assert_eq!(v["a"][0]["x"], Value::String("example.com".into()));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "a[1].y");
    }
}
