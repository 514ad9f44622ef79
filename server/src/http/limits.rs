//! A cap on aliases per operation. Aliases let one request ask for the same field many times
//! (`a: verifyOtp(...) b: verifyOtp(...)`), multiplying work and defeating per-request rate
//! limits; async-graphql limits depth and complexity but not aliases.
//!
//! The same check refuses text holding the NUL character (U+0000), in variables or in the
//! document's literals, before anything runs: PostgreSQL cannot store it in `text`, so it
//! would otherwise surface as an internal error from whichever statement met it first.
//!
//! This is a check on the request, not an async-graphql extension: with any extension
//! registered, async-graphql sends every field and every list item through its slow path
//! (a registry lookup, type names formatted, the extension chain boxed), which made up a
//! large share of the server's CPU on a catalogue listing.

use std::collections::{HashMap, HashSet};

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Positioned, Request, ServerError, Value as ConstValue};

#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    pub max_aliases: usize,
}

impl QueryLimits {
    /// Checks `request` before it runs. The document is parsed here, once: the request keeps
    /// it and execution uses it. A document that does not parse passes: execution reports
    /// the syntax error the usual way.
    pub fn check(&self, request: &mut Request) -> Result<(), ServerError> {
        // `\u0000` is how a GraphQL string literal spells NUL; JSON-decoded text holds it raw.
        let query = request.query.as_bytes();
        let literal_nul = query.contains(&0)
            || query.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000"))
            || request.query.contains("\\u{0}");
        if literal_nul || request.variables.iter().any(|(_, value)| holds_nul(value)) {
            let mut error =
                ServerError::new("text may not contain the NUL character (U+0000)", None);
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", "BAD_USER_INPUT");
            return Err(error);
        }
        let Ok(document) = request.parsed_query() else {
            return Ok(());
        };
        let mut counter = AliasCounter {
            document,
            memo: HashMap::new(),
            visiting: HashSet::new(),
        };
        for (_, operation) in document.operations.iter() {
            let aliases = counter.count(&operation.node.selection_set);
            if aliases > self.max_aliases {
                return Err(ServerError::new(
                    format!(
                        "an operation may use at most {} aliases; this one uses {aliases}",
                        self.max_aliases
                    ),
                    None,
                ));
            }
        }
        Ok(())
    }
}

fn holds_nul(value: &ConstValue) -> bool {
    match value {
        ConstValue::String(text) => text.contains('\0'),
        ConstValue::List(items) => items.iter().any(holds_nul),
        ConstValue::Object(fields) => fields
            .iter()
            .any(|(name, value)| name.contains('\0') || holds_nul(value)),
        _ => false,
    }
}

/// Counts aliases with fragment spreads expanded, so a fragment full of aliases spread many
/// times counts every time. Cycles (rejected later by validation) count as zero.
struct AliasCounter<'a> {
    document: &'a ExecutableDocument,
    memo: HashMap<&'a Name, usize>,
    visiting: HashSet<&'a Name>,
}

impl<'a> AliasCounter<'a> {
    fn count(&mut self, set: &'a Positioned<SelectionSet>) -> usize {
        let mut total = 0usize;
        for selection in &set.node.items {
            total = total.saturating_add(match &selection.node {
                Selection::Field(field) => {
                    usize::from(field.node.alias.is_some()) + self.count(&field.node.selection_set)
                }
                Selection::InlineFragment(fragment) => self.count(&fragment.node.selection_set),
                Selection::FragmentSpread(spread) => self.fragment(&spread.node.fragment_name.node),
            });
        }
        total
    }

    fn fragment(&mut self, name: &'a Name) -> usize {
        if let Some(count) = self.memo.get(name) {
            return *count;
        }
        let Some(fragment) = self.document.fragments.get(name) else {
            return 0;
        };
        if !self.visiting.insert(name) {
            return 0;
        }
        let count = self.count(&fragment.node.selection_set);
        self.visiting.remove(name);
        self.memo.insert(name, count);
        count
    }
}
