//! Reading Mahak's answer to a push: one result per pushed row, in input order, per list
//! (see `shared/mahak/README.md`). Every row is looked at; the top-level `Result` says
//! nothing reliable about any one of them.

use crate::mahak::{CommitData, Entity, EntityUpdateResult, SaveAllDataResult};

/// What Mahak said about one pushed row.
#[derive(Debug, Clone, PartialEq)]
pub enum RowOutcome {
    Saved { id: i64, row_version: Option<i64> },
    Rejected(String),
}

impl RowOutcome {
    pub fn id(&self) -> Option<i64> {
        match self {
            RowOutcome::Saved { id, .. } => Some(*id),
            RowOutcome::Rejected(_) => None,
        }
    }
}

/// The answer, list by list, aligned with the body that was sent.
pub struct Answer {
    result: SaveAllDataResult,
}

impl Answer {
    /// Checks that every list of `sent` has one result per row; an answer that does not is
    /// not trusted (the caller retries: the rows' ClientIds make that safe).
    pub fn check(sent: &CommitData, result: SaveAllDataResult) -> Result<Answer, String> {
        for entity in Entity::ALL {
            let want = sent.len_of(entity);
            if want == 0 {
                continue;
            }
            let got = result.entities.get(&entity).map_or(0, Vec::len);
            if got != want {
                return Err(format!(
                    "Mahak answered {got} results for {want} pushed {} rows",
                    entity.name()
                ));
            }
        }
        Ok(Answer { result })
    }

    /// The outcome of row `index` of `entity`'s list.
    pub fn row(&self, entity: Entity, index: usize) -> RowOutcome {
        let results = self.result.entities.get(&entity).map(Vec::as_slice);
        // Looked up by the `Index` Mahak reports, falling back to the position.
        let found = results.and_then(|rows| {
            rows.iter()
                .find(|r| r.index.and_then(|i| usize::try_from(i).ok()) == Some(index))
                .or_else(|| rows.get(index))
        });
        match found {
            Some(row) => outcome(entity, index, row),
            None => RowOutcome::Rejected(format!("{} #{}: no result", entity.name(), index + 1)),
        }
    }

    /// Every rejection in the answer, as one message for people (`Order #1: StoreId: ...`).
    pub fn rejections(&self) -> Vec<String> {
        let mut messages = Vec::new();
        for (entity, rows) in &self.result.entities {
            for (position, row) in rows.iter().enumerate() {
                if let RowOutcome::Rejected(message) = outcome(*entity, position, row) {
                    messages.push(message);
                }
            }
        }
        messages
    }
}

fn outcome(entity: Entity, index: usize, row: &EntityUpdateResult) -> RowOutcome {
    match (row.succeeded(), row.entity_id) {
        (true, Some(id)) if id > 0 => RowOutcome::Saved {
            id,
            row_version: row.row_version,
        },
        (true, _) => RowOutcome::Rejected(format!(
            "{} #{}: accepted without an id",
            entity.name(),
            index + 1
        )),
        (false, _) => {
            let errors = row
                .errors
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|e| {
                    let property = e.property.as_deref().unwrap_or_default();
                    let message = e.error.as_deref().unwrap_or("rejected");
                    match (property.is_empty(), e.code) {
                        (true, Some(code)) => format!("{message} ({code})"),
                        (true, None) => message.to_string(),
                        (false, Some(code)) => format!("{property}: {message} ({code})"),
                        (false, None) => format!("{property}: {message}"),
                    }
                })
                .collect::<Vec<_>>();
            let detail = if errors.is_empty() {
                "rejected without a reason".to_string()
            } else {
                errors.join("; ")
            };
            RowOutcome::Rejected(format!("{} #{}: {detail}", entity.name(), index + 1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mahak::models::{OrderDetailModel, OrderModel, PropertyError};

    fn sent() -> CommitData {
        CommitData {
            orders: vec![OrderModel::default()],
            order_details: vec![OrderDetailModel::default(), OrderDetailModel::default()],
            ..CommitData::default()
        }
    }

    fn saved(index: i64, id: i64) -> EntityUpdateResult {
        EntityUpdateResult {
            result: Some(true),
            index: Some(index),
            entity_id: Some(id),
            row_version: Some(40 + id),
            ..EntityUpdateResult::default()
        }
    }

    #[test]
    fn rows_are_read_by_index_and_rejections_keep_mahaks_words() {
        let mut result = SaveAllDataResult::default();
        result.entities.insert(Entity::Order, vec![saved(0, 900)]);
        let rejected = EntityUpdateResult {
            result: Some(false),
            index: Some(0),
            errors: Some(vec![PropertyError {
                property: Some("ProductDetailId".into()),
                code: Some(404),
                error: Some("no ProductDetail 77".into()),
            }]),
            ..EntityUpdateResult::default()
        };
        // Mahak's order of results need not be the input order: `Index` says which row.
        result
            .entities
            .insert(Entity::OrderDetail, vec![saved(1, 901), rejected]);
        let answer = Answer::check(&sent(), result).unwrap();
        assert_eq!(
            answer.row(Entity::Order, 0),
            RowOutcome::Saved {
                id: 900,
                row_version: Some(940)
            }
        );
        assert_eq!(answer.row(Entity::OrderDetail, 1).id(), Some(901));
        assert_eq!(
            answer.row(Entity::OrderDetail, 0),
            RowOutcome::Rejected(
                "OrderDetail #1: ProductDetailId: no ProductDetail 77 (404)".into()
            )
        );
        assert_eq!(answer.rejections().len(), 1);
    }

    #[test]
    fn an_answer_missing_rows_is_not_trusted() {
        let mut result = SaveAllDataResult::default();
        result.entities.insert(Entity::Order, vec![saved(0, 900)]);
        result
            .entities
            .insert(Entity::OrderDetail, vec![saved(0, 901)]);
        let err = Answer::check(&sent(), result).err().unwrap();
        assert!(
            err.contains("1 results for 2 pushed OrderDetail rows"),
            "{err}"
        );
    }

    #[test]
    fn success_without_an_id_is_a_rejection() {
        let mut result = SaveAllDataResult::default();
        result.entities.insert(Entity::Order, vec![saved(0, 0)]);
        result
            .entities
            .insert(Entity::OrderDetail, vec![saved(0, 1), saved(1, 2)]);
        let answer = Answer::check(&sent(), result).unwrap();
        assert!(matches!(
            answer.row(Entity::Order, 0),
            RowOutcome::Rejected(_)
        ));
    }
}
