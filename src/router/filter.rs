//! Subscriber black/white listing (`subscriber_blackwhite_listing`): the PUBLISH options that
//! choose which subscribers get an event, by session id, authid or authrole.

use crate::wamp::Dict;

/// PUBLISH black/white listing options (`subscriber_blackwhite_listing`).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Filter {
    exclude: Vec<u64>,
    exclude_authid: Vec<String>,
    exclude_authrole: Vec<String>,
    eligible: Option<Vec<u64>>,
    eligible_authid: Option<Vec<String>>,
    eligible_authrole: Option<Vec<String>>,
}

impl Filter {
    /// Parses the listing options; `Ok(None)` when there are none.
    pub(crate) fn parse(options: &Dict) -> Result<Option<Box<Filter>>, String> {
        fn ids(options: &Dict, key: &str) -> Result<Option<Vec<u64>>, String> {
            let Some(v) = options.get(key) else {
                return Ok(None);
            };
            let list = v
                .as_list()
                .ok_or_else(|| format!("option {key} must be a list of session ids"))?;
            list.iter()
                .map(|x| {
                    x.as_id()
                        .ok_or_else(|| format!("option {key} must be a list of session ids"))
                })
                .collect::<Result<_, _>>()
                .map(Some)
        }
        fn names(options: &Dict, key: &str) -> Result<Option<Vec<String>>, String> {
            let Some(v) = options.get(key) else {
                return Ok(None);
            };
            let list = v
                .as_list()
                .ok_or_else(|| format!("option {key} must be a list of strings"))?;
            list.iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| format!("option {key} must be a list of strings"))
                })
                .collect::<Result<_, _>>()
                .map(Some)
        }
        let filter = Filter {
            exclude: ids(options, "exclude")?.unwrap_or_default(),
            exclude_authid: names(options, "exclude_authid")?.unwrap_or_default(),
            exclude_authrole: names(options, "exclude_authrole")?.unwrap_or_default(),
            eligible: ids(options, "eligible")?,
            eligible_authid: names(options, "eligible_authid")?,
            eligible_authrole: names(options, "eligible_authrole")?,
        };
        Ok((filter != Filter::default()).then(|| Box::new(filter)))
    }

    fn needs_identity(&self) -> bool {
        !self.exclude_authid.is_empty()
            || !self.exclude_authrole.is_empty()
            || self.eligible_authid.is_some()
            || self.eligible_authrole.is_some()
    }

    /// Whether a subscriber passes; `identity` is (authid, authrole), looked up only if needed.
    pub(crate) fn admits<'a>(
        &self,
        session: u64,
        identity: impl FnOnce() -> Option<(&'a str, &'a str)>,
    ) -> bool {
        if self.exclude.contains(&session)
            || self
                .eligible
                .as_ref()
                .is_some_and(|e| !e.contains(&session))
        {
            return false;
        }
        if !self.needs_identity() {
            return true;
        }
        let Some((authid, authrole)) = identity() else {
            return false;
        };
        let listed = |list: &[String], name: &str| list.iter().any(|x| x == name);
        !listed(&self.exclude_authid, authid)
            && !listed(&self.exclude_authrole, authrole)
            && self
                .eligible_authid
                .as_ref()
                .is_none_or(|e| listed(e, authid))
            && self
                .eligible_authrole
                .as_ref()
                .is_none_or(|e| listed(e, authrole))
    }
}

#[cfg(test)]
mod tests {
    use super::Filter;
    use crate::wamp::{Dict, Value};

    #[test]
    fn session_ids_may_be_integral_floats() {
        // cbor-x (wampy.js) writes session ids above 2^32 as float64.
        let options = Dict::new().with(
            "exclude",
            Value::List(vec![Value::Float(6e9), Value::Int(7)]),
        );
        let filter = Filter::parse(&options).expect("parses").expect("a filter");
        assert_eq!(filter.exclude, vec![6_000_000_000, 7]);
        let fraction = Dict::new().with("eligible", Value::List(vec![Value::Float(1.5)]));
        assert!(Filter::parse(&fraction).is_err());
    }
}
