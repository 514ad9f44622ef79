//! A cap on aliases per operation. Aliases let one request ask for the same field many times
//! (`a: verifyOtp(...) b: verifyOtp(...)`), multiplying work and defeating per-request rate
//! limits; async-graphql limits depth and complexity but not aliases.
//!
//! The same extension refuses text holding the NUL character (U+0000), in variables or in
//! the document's literals, before anything runs: PostgreSQL cannot store it in `text`, so it
//! would otherwise surface as an internal error from whichever statement met it first.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Positioned, ServerError, ServerResult, Value as ConstValue, Variables};

pub struct QueryLimits {
    pub max_aliases: usize,
}

impl ExtensionFactory for QueryLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AliasLimit {
            max_aliases: self.max_aliases,
        })
    }
}

struct AliasLimit {
    max_aliases: usize,
}

#[async_trait::async_trait]
impl Extension for AliasLimit {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        // `\u0000` is how a GraphQL string literal spells NUL; JSON-decoded text holds it raw.
        let literal_nul = query.contains('\0')
            || query.to_ascii_lowercase().contains("\\u0000")
            || query.contains("\\u{0}");
        if literal_nul || variables.iter().any(|(_, value)| holds_nul(value)) {
            let mut error =
                ServerError::new("text may not contain the NUL character (U+0000)", None);
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", "BAD_USER_INPUT");
            return Err(error);
        }
        let document = next.run(ctx, query, variables).await?;
        let mut counter = AliasCounter {
            document: &document,
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
        Ok(document)
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
