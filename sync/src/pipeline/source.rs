//! The production [`PageSource`]: pages from Mahak through the adapter, transformed.

use futures::stream::BoxStream;
use futures::StreamExt;

use super::dead_letters::DeadLetter;
use super::fetcher::{PageSource, SourcePage};
use super::transform::to_mirror_row;
use crate::mahak::{pages, Entity, MahakClient, PagingOptions};

pub struct MahakSource {
    pub client: MahakClient,
    pub paging: PagingOptions,
}

impl PageSource for MahakSource {
    fn pages(
        &self,
        entity: Entity,
        from_version: i64,
    ) -> BoxStream<'_, anyhow::Result<SourcePage>> {
        pages(self.client.clone(), entity, from_version, &self.paging)
            .map(|page| {
                let page = page?;
                let rejects = page
                    .rejects
                    .into_iter()
                    .map(|r| DeadLetter {
                        entity: r.entity,
                        mahak_id: r.identity.id,
                        client_id: r.identity.client_id,
                        row_version: r.identity.row_version,
                        batch_id: None,
                        payload: r.raw,
                        error: r.reason,
                        attempts: 1,
                    })
                    .collect();
                Ok(SourcePage {
                    from_version: page.from_cursor,
                    next_version: page.next_cursor,
                    rows: page.records.iter().map(to_mirror_row).collect(),
                    rejects,
                })
            })
            .boxed()
    }
}
