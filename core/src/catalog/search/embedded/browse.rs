//! Browsing a category without filters (the storefront's commonest read):
//! its products, facets and each sort order computed once per snapshot, on
//! first use, so a page of it costs a slice instead of a pass over every
//! product of the category (20,000 of them for a top category at 100,000
//! products). What database indexes on (category, sort key) would be, kept
//! with the snapshot: a patched snapshot starts with none.
//!
//! Stock is not part of it: a listing without `in_stock` shows products
//! whatever their stock, so checkouts (which only move stock) leave it be.

use std::sync::{Arc, OnceLock};

use super::super::{Hits, Sort};

/// One slot per category, and one for the whole catalogue.
pub(super) struct Browse {
    slots: Box<[OnceLock<Arc<Listing>>]>,
}

/// A category's products with their facets and total (`hits.ids` empty),
/// and its products in each sort order, each made when first asked for.
pub(super) struct Listing {
    pub hits: Hits,
    /// By key, in no order.
    docs: Box<[u32]>,
    orders: [OnceLock<Box<[u32]>>; SORTS],
}

const SORTS: usize = 4;

/// Relevance without a query is newest first: one order for both.
fn slot_of(sort: Sort) -> usize {
    match sort {
        Sort::Relevance | Sort::Newest => 0,
        Sort::Price => 1,
        Sort::PriceDesc => 2,
        Sort::Rating => 3,
    }
}

impl Browse {
    pub fn new(categories: usize) -> Self {
        Browse {
            slots: (0..=categories).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The listing of the category at `position` (`None`: every product),
    /// made by `make` if this snapshot has not made it yet. Concurrent
    /// first readers wait for one computation.
    pub fn listing(&self, position: Option<u32>, make: impl FnOnce() -> Listing) -> &Arc<Listing> {
        let slot = position.map_or(self.slots.len() - 1, |p| p as usize);
        self.slots[slot].get_or_init(|| Arc::new(make()))
    }
}

impl Listing {
    pub fn new(hits: Hits, docs: Vec<u32>) -> Self {
        Listing {
            hits,
            docs: docs.into_boxed_slice(),
            orders: Default::default(),
        }
    }

    /// Its products sorted by `sort`, sorted by `sorted` when first asked.
    pub fn ordered(&self, sort: Sort, sorted: impl FnOnce(Vec<u32>) -> Vec<u32>) -> &[u32] {
        self.orders[slot_of(sort)].get_or_init(|| sorted(self.docs.to_vec()).into_boxed_slice())
    }
}
