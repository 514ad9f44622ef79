//! A cap on aliases per operation. Aliases let one request ask for the same field many times
//! (`a: verifyOtp(...) b: verifyOtp(...)`), multiplying work and defeating per-request rate
//! limits; async-graphql limits depth and complexity but not aliases.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Positioned, ServerError, ServerResult, Variables};

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
