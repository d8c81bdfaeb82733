//! What a warm API function remembers of the products it sold: each one's price and the stock it
//! last saw, so that a steady-state order costs no read before its transaction.
//!
//! Neither figure is trusted. The price is a guess that the order's transaction checks: each
//! line's stock update is conditioned on the product still having the line's price, and when it
//! does not, the transaction fails, reserves nothing, and returns the product as it is now
//! ([`crate::error::Error::PriceChanged`]); the order is priced again and placed at that price. So
//! the price charged is always the product's current one. The stock is only a hint of whether to
//! look before scheduling: when it says an order looks short, the products are read strongly
//! consistently, and only what that read shows short is refused. What the hint lets through, the
//! transaction's conditions still decide.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use orderflow_types::{OrderLine, Product, ProductId, Quantity};

use crate::error::Shortage;

/// How many products a warm function remembers. A catalogue that grows past it starts over:
/// each product then costs one read again, and memory stays bounded (about 100 bytes a product).
pub const CAPACITY: usize = 10_000;

/// The products this function has seen, by id. Shared by the requests of one warm function.
#[derive(Debug, Default)]
pub struct Catalogue {
    known: Mutex<HashMap<ProductId, Known>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Known {
    price_cents: u64,
    /// The stock when last seen, less what this function reserved since.
    stock: u64,
}

impl Catalogue {
    /// The order's lines at the remembered prices, or `None` when a product is not remembered or
    /// its remembered stock is short of the line: then the products must be read.
    pub fn lines(&self, items: &[(ProductId, Quantity)]) -> Option<Vec<OrderLine>> {
        let known = self.lock();
        items
            .iter()
            .map(|(product_id, quantity)| {
                let product = known.get(product_id)?;
                (product.stock >= u64::from(quantity.get())).then(|| OrderLine {
                    product_id: product_id.clone(),
                    quantity: *quantity,
                    unit_price_cents: product.price_cents,
                })
            })
            .collect()
    }

    /// Remembers `products` as they were just read or returned by a failed transaction.
    pub fn learn<'a>(&self, products: impl IntoIterator<Item = &'a Product>) {
        let mut known = self.lock();
        for product in products {
            if known.len() >= CAPACITY && !known.contains_key(&product.product_id) {
                known.clear();
            }
            known.insert(
                product.product_id.clone(),
                Known {
                    price_cents: product.price_cents,
                    stock: product.stock,
                },
            );
        }
    }

    /// Takes the lines of an order just placed from the remembered stock.
    pub fn reserved(&self, lines: &[OrderLine]) {
        let mut known = self.lock();
        for line in lines {
            if let Some(product) = known.get_mut(&line.product_id) {
                product.stock = product.stock.saturating_sub(u64::from(line.quantity.get()));
            }
        }
    }

    /// Remembers what a refused order found available.
    pub fn short(&self, shortages: &[Shortage]) {
        let mut known = self.lock();
        for shortage in shortages {
            if let Some(product) = known.get_mut(&shortage.product_id) {
                product.stock = shortage.available;
            }
        }
    }

    /// Forgets products that no longer exist.
    pub fn forget(&self, ids: &[ProductId]) {
        let mut known = self.lock();
        for id in ids {
            known.remove(id);
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ProductId, Known>> {
        // The map is consistent after every statement that changes it: a panic elsewhere while
        // the lock was held leaves nothing half-written.
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(id: &str) -> ProductId {
        ProductId::parse(id).unwrap()
    }

    fn product(name: &str, price_cents: u64, stock: u64) -> Product {
        Product {
            product_id: id(name),
            name: name.to_uppercase(),
            price_cents,
            stock,
        }
    }

    fn items(lines: &[(&str, u64)]) -> Vec<(ProductId, Quantity)> {
        lines
            .iter()
            .map(|&(p, q)| (id(p), Quantity::new(q).unwrap()))
            .collect()
    }

    #[test]
    fn an_order_of_remembered_products_with_stock_is_priced_from_memory() {
        let catalogue = Catalogue::default();
        catalogue.learn(&[product("a", 250, 10), product("b", 100, 1)]);
        let lines = catalogue.lines(&items(&[("a", 2), ("b", 1)])).unwrap();
        let prices: Vec<u64> = lines.iter().map(|line| line.unit_price_cents).collect();
        assert_eq!(prices, [250, 100]);
    }

    #[test]
    fn an_unknown_product_or_a_short_line_needs_a_read() {
        let catalogue = Catalogue::default();
        catalogue.learn(&[product("a", 250, 3)]);
        assert_eq!(catalogue.lines(&items(&[("a", 1), ("z", 1)])), None);
        assert_eq!(catalogue.lines(&items(&[("a", 4)])), None);
    }

    #[test]
    fn reserved_stock_and_shortages_update_the_hint() {
        let catalogue = Catalogue::default();
        catalogue.learn(&[product("a", 250, 3)]);
        let lines = catalogue.lines(&items(&[("a", 2)])).unwrap();
        catalogue.reserved(&lines);
        assert_eq!(catalogue.lines(&items(&[("a", 2)])), None);
        assert!(catalogue.lines(&items(&[("a", 1)])).is_some());
        catalogue.short(&[Shortage {
            product_id: id("a"),
            requested: 1,
            available: 0,
        }]);
        assert_eq!(catalogue.lines(&items(&[("a", 1)])), None);
        catalogue.learn(&[product("a", 300, 5)]);
        assert_eq!(
            catalogue.lines(&items(&[("a", 5)])).unwrap()[0].unit_price_cents,
            300
        );
        catalogue.forget(&[id("a")]);
        assert_eq!(catalogue.lines(&items(&[("a", 1)])), None);
    }

    #[test]
    fn a_full_catalogue_starts_over_rather_than_grow() {
        let catalogue = Catalogue::default();
        let products: Vec<Product> = (0..CAPACITY)
            .map(|n| product(&format!("p{n}"), 1, 1))
            .collect();
        catalogue.learn(&products);
        assert!(catalogue.lines(&items(&[("p0", 1)])).is_some());
        catalogue.learn(&[product("new", 1, 1)]);
        assert_eq!(catalogue.lines(&items(&[("p0", 1)])), None);
        assert!(catalogue.lines(&items(&[("new", 1)])).is_some());
        assert_eq!(catalogue.lock().len(), 1);
    }
}
