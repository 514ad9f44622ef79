//! The `SaveAllData` bodies the store sends, built from its own rows, as Mahak's own web
//! plugin sends them (see `shared/mahak/README.md`): an invoice (`orderType` 201) with its
//! lines, the customer as a Person with its VisitorPerson link when Mahak does not know them
//! yet, and the payment as a Receipt with one bank-transfer Cheque (`type` 2); a sales
//! return (`orderType` 202) referencing the invoice.
//!
//! Pure functions: what is sent depends only on the rows given, so a retry re-sends the
//! same body (the rows carry their ClientIds already, see [`super::client_ids`]). A row
//! Mahak has already accepted is sent with its Mahak id too, which makes the send an update.

use chrono::{DateTime, Utc};
use entity::{customers, order_lines, orders, payments};

use crate::mahak::convert::{rial_to_wire, utc_to_tehran_text, ConvertError};
use crate::mahak::models::{
    ChequeModel, CommitData, OrderDetailModel, OrderModel, PersonModel, ReceiptModel,
    VisitorPersonModel,
};

/// `orderType` of a sales invoice.
pub const SALES_INVOICE: i32 = 201;
/// `orderType` of a sales return (the credit memo).
pub const SALES_RETURN: i32 = 202;
/// `itemType` of a product line.
const ITEM_PRODUCT: i32 = 1;
/// `type` of a cheque that is a bank transfer.
const CHEQUE_BANK_TRANSFER: i32 = 2;

/// Where the pushed rows go in Mahak.
#[derive(Debug, Clone, Default)]
pub struct Destination {
    /// The visitor the session logged in as; every order and receipt carries it.
    pub visitor_id: Option<i64>,
    /// The warehouse every line is taken from (`storeId`, required by Mahak).
    pub store_id: Option<i64>,
    /// The person group of customers created by the store.
    pub person_group_id: Option<i64>,
    /// The bank named on the bank-transfer cheque.
    pub bank_name: String,
}

/// Everything an invoice push is made of. ClientIds are assigned on the rows already.
pub struct Invoice<'a> {
    pub order: &'a orders::Model,
    pub customer: &'a customers::Model,
    pub lines: &'a [order_lines::Model],
    /// The payment the money came with, when it went through a gateway.
    pub payment: Option<&'a payments::Model>,
}

/// Mahak's mobile format (`09121234567`) from the store's E.164 (`+989121234567`).
fn local_mobile(e164: &str) -> String {
    e164.strip_prefix("+98")
        .map(|rest| format!("0{rest}"))
        .unwrap_or_else(|| e164.to_string())
}

/// A rate in basis points as Mahak's percentage (`900` → `9.0`).
fn percent(bp: Option<i32>) -> f64 {
    f64::from(bp.unwrap_or(0)) / 100.0
}

fn time(at: DateTime<Utc>) -> String {
    utc_to_tehran_text(at)
}

/// The name a new person gets in Mahak, which requires one: the customer's own, else the
/// recipient's on the order (customers sign in by phone and may never give a name), else a
/// label with the mobile number.
fn person_name(
    customer: &customers::Model,
    order: &orders::Model,
) -> (Option<String>, Option<String>) {
    let given = |name: &Option<String>| {
        name.as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
    };
    let (first, last) = (given(&customer.first_name), given(&customer.last_name));
    if first.is_some() || last.is_some() {
        return (first, last);
    }
    let recipient = order.shipping_address["recipientName"]
        .as_str()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    match recipient {
        Some(name) => (None, Some(name.to_owned())),
        None => (
            None,
            Some(format!(
                "مشتری فروشگاه اینترنتی {}",
                local_mobile(&customer.phone)
            )),
        ),
    }
}

/// Whether the customer has to be created in Mahak with this push.
pub fn needs_person(customer: &customers::Model) -> bool {
    customer.mahak_person_id.is_none()
}

/// The person fields every order row and receipt refers to the customer by.
fn person_ref(customer: &customers::Model) -> (Option<i64>, Option<i64>) {
    match customer.mahak_person_id {
        Some(id) => (Some(id), None),
        None => (None, customer.mahak_person_client_id),
    }
}

fn detail(
    line: &order_lines::Model,
    row: usize,
    client_id: Option<i64>,
    id: Option<i64>,
    order: (Option<i64>, Option<i64>),
    to: &Destination,
) -> Result<OrderDetailModel, ConvertError> {
    Ok(OrderDetailModel {
        order_detail_id: id,
        order_detail_client_id: client_id,
        order_id: order.0,
        order_client_id: order.1,
        item_type: Some(ITEM_PRODUCT),
        product_detail_id: Some(line.variant_mahak_id),
        price: Some(rial_to_wire("price", line.unit_price)?),
        count1: Some(f64::from(line.quantity)),
        discount: Some(rial_to_wire("discount", line.discount)?),
        tax_percent: Some(percent(line.tax_bp)),
        charge_percent: Some(percent(line.toll_bp)),
        store_id: to.store_id,
        row_id: i32::try_from(row + 1).ok(),
        description: Some(
            format!("{} {}", line.product_name, line.variant_label)
                .trim()
                .into(),
        ),
        ..OrderDetailModel::default()
    })
}

/// The invoice body. Lists hold at most one person, visitor link, order, receipt and cheque,
/// and the lines in the order given; [`super::results`] reads the answer by those positions.
pub fn invoice(invoice: &Invoice<'_>, to: &Destination) -> Result<CommitData, ConvertError> {
    let Invoice {
        order,
        customer,
        lines,
        payment,
    } = invoice;
    let mut body = CommitData::default();
    if needs_person(customer) {
        let (first_name, last_name) = person_name(customer, order);
        body.people.push(PersonModel {
            person_client_id: customer.mahak_person_client_id,
            person_group_id: to.person_group_id,
            first_name,
            last_name,
            mobile: Some(local_mobile(&customer.phone)),
            email: customer.email.clone(),
            ..PersonModel::default()
        });
        body.visitor_people.push(VisitorPersonModel {
            person_client_id: customer.mahak_person_client_id,
            visitor_id: to.visitor_id,
            ..VisitorPersonModel::default()
        });
    }
    let (person_id, person_client_id) = person_ref(customer);
    let order_ref = (order.mahak_order_id, order.mahak_order_client_id);
    body.orders.push(OrderModel {
        order_id: order.mahak_order_id,
        order_client_id: order.mahak_order_client_id,
        order_type: Some(SALES_INVOICE),
        person_id,
        person_client_id,
        visitor_id: to.visitor_id,
        order_date: Some(time(order.paid_at.unwrap_or(order.created_at))),
        // The coupon discount is already spread over the lines (their `discount`); an
        // order-level discount here would count it twice.
        discount: Some(0.0),
        send_cost: Some(rial_to_wire("sendCost", order.shipping_total)?),
        description: Some(format!("Online order {}", order.number)),
        shipping_address: Some(order.shipping_address.to_string()),
        ..OrderModel::default()
    });
    for (row, line) in lines.iter().enumerate() {
        body.order_details.push(detail(
            line,
            row,
            line.mahak_detail_client_id,
            line.mahak_detail_id,
            order_ref,
            to,
        )?);
    }
    if let Some(payment) = payment {
        let date = time(payment.verified_at.unwrap_or(payment.created_at));
        let reference = payment.reference_id.clone();
        body.receipts.push(ReceiptModel {
            receipt_id: payment.mahak_receipt_id,
            receipt_client_id: payment.mahak_receipt_client_id,
            person_id,
            person_client_id,
            visitor_id: to.visitor_id,
            cash_amount: Some(0.0),
            date: Some(date.clone()),
            order_id: order_ref.0,
            order_client_id: order_ref.1,
            tracking_code: reference.clone(),
            description: Some(format!("Online payment of order {}", order.number)),
            ..ReceiptModel::default()
        });
        let bank = if to.bank_name.is_empty() {
            payment.provider.clone()
        } else {
            to.bank_name.clone()
        };
        body.cheques.push(ChequeModel {
            cheque_id: payment.mahak_cheque_id,
            cheque_client_id: payment.mahak_cheque_client_id,
            receipt_id: payment.mahak_receipt_id,
            receipt_client_id: payment.mahak_receipt_client_id,
            cheque_type: Some(CHEQUE_BANK_TRANSFER),
            amount: Some(rial_to_wire("amount", payment.amount)?),
            number: reference,
            bank_name: Some(bank),
            date: Some(date),
            ..ChequeModel::default()
        });
    }
    Ok(body)
}

/// The sales return of an invoiced order: every line given back, referencing the invoice.
pub fn sales_return(
    order: &orders::Model,
    customer: &customers::Model,
    lines: &[order_lines::Model],
    reason: &str,
    to: &Destination,
) -> Result<CommitData, ConvertError> {
    let (person_id, person_client_id) = person_ref(customer);
    let mut body = CommitData::default();
    body.orders.push(OrderModel {
        order_client_id: order.mahak_return_client_id,
        order_type: Some(SALES_RETURN),
        reference_order_id: order.mahak_order_id,
        person_id,
        person_client_id,
        visitor_id: to.visitor_id,
        order_date: Some(time(order.cancelled_at.unwrap_or(order.updated_at))),
        discount: Some(0.0),
        description: Some(format!("Return of online order {}: {reason}", order.number)),
        ..OrderModel::default()
    });
    for (row, line) in lines.iter().enumerate() {
        body.order_details.push(detail(
            line,
            row,
            line.mahak_return_detail_client_id,
            None,
            (None, order.mahak_return_client_id),
            to,
        )?);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;
    use uuid::Uuid;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 11, 0, 0).unwrap()
    }

    fn customer(person_id: Option<i64>) -> customers::Model {
        customers::Model {
            id: Uuid::nil(),
            phone: "+989121234567".into(),
            first_name: None,
            last_name: Some("  ".into()),
            email: None,
            status: "active".into(),
            mahak_person_id: person_id,
            mahak_person_client_id: Some(1_000_000_000),
            mahak_row_version: None,
            mahak_state: "pending".into(),
            mahak_error: None,
            created_at: at(),
            updated_at: at(),
        }
    }

    fn order() -> orders::Model {
        orders::Model {
            id: Uuid::nil(),
            number: 100_042,
            customer_id: Uuid::nil(),
            status: "paid".into(),
            subtotal: 200_000,
            discount_total: 20_000,
            tax_total: 16_200,
            toll_total: 1_800,
            shipping_total: 50_000,
            grand_total: 248_000,
            coupon_code: Some("NOROOZ".into()),
            shipping_address: json!({ "recipientName": "سارا احمدی" }),
            customer_note: String::new(),
            placed_at: Some(at()),
            paid_at: Some(at()),
            cancelled_at: None,
            tracking_code: None,
            shipped_at: None,
            delivered_at: None,
            mahak_order_id: None,
            mahak_order_client_id: Some(1_000_000_001),
            mahak_row_version: None,
            mahak_state: "pending".into(),
            mahak_error: None,
            mahak_pushed_at: None,
            mahak_return_id: None,
            mahak_return_client_id: Some(1_000_000_009),
            mahak_return_state: None,
            mahak_return_error: None,
            mahak_settled_at: None,
            version: 1,
            idempotency_key: None,
            created_at: at(),
            updated_at: at(),
        }
    }

    fn line(variant: i64, client_id: i64) -> order_lines::Model {
        order_lines::Model {
            id: Uuid::now_v7(),
            order_id: Uuid::nil(),
            variant_id: 1,
            variant_mahak_id: variant,
            product_name: "چای".into(),
            variant_label: "۵۰۰ گرم".into(),
            unit_price: 50_000,
            quantity: 2,
            discount: 10_000,
            tax: 8_100,
            toll: 900,
            line_total: 99_000,
            mahak_detail_client_id: Some(client_id),
            mahak_detail_id: None,
            mahak_return_detail_client_id: Some(client_id + 100),
            tax_bp: Some(900),
            toll_bp: Some(100),
        }
    }

    fn payment() -> payments::Model {
        payments::Model {
            id: Uuid::nil(),
            order_id: Uuid::nil(),
            provider: "zarinpal".into(),
            amount: 248_000,
            status: "paid".into(),
            authority: Some("A1".into()),
            reference_id: Some("201".into()),
            card_pan_masked: None,
            verified_at: Some(at()),
            mahak_receipt_id: None,
            mahak_receipt_client_id: Some(1_000_000_004),
            mahak_cheque_client_id: Some(1_000_000_005),
            mahak_row_version: None,
            mahak_state: "pending".into(),
            mahak_settled_at: None,
            mahak_cheque_id: None,
            mahak_error: None,
            created_at: at(),
            updated_at: at(),
        }
    }

    fn to() -> Destination {
        Destination {
            visitor_id: Some(7),
            store_id: Some(3),
            person_group_id: Some(12),
            bank_name: String::new(),
        }
    }

    #[test]
    fn a_new_customers_paid_order_is_person_link_invoice_lines_receipt_and_cheque() {
        let (order, customer) = (order(), customer(None));
        let lines = [line(501, 1_000_000_002), line(502, 1_000_000_003)];
        let payment = payment();
        let body = invoice(
            &Invoice {
                order: &order,
                customer: &customer,
                lines: &lines,
                payment: Some(&payment),
            },
            &to(),
        )
        .unwrap();
        let person = &body.people[0];
        assert_eq!(person.person_client_id, Some(1_000_000_000));
        assert_eq!(person.person_group_id, Some(12));
        assert_eq!(person.mobile.as_deref(), Some("09121234567"));
        // Blank names fall back to the recipient on the order.
        assert_eq!(person.last_name.as_deref(), Some("سارا احمدی"));
        assert_eq!(body.visitor_people[0].visitor_id, Some(7));
        assert_eq!(body.visitor_people[0].person_client_id, Some(1_000_000_000));

        let invoice = &body.orders[0];
        assert_eq!(invoice.order_type, Some(SALES_INVOICE));
        assert_eq!(invoice.order_client_id, Some(1_000_000_001));
        assert_eq!(invoice.person_id, None);
        assert_eq!(invoice.person_client_id, Some(1_000_000_000));
        assert_eq!(invoice.order_date.as_deref(), Some("2026-03-01T14:30:00"));
        assert_eq!(
            invoice.discount,
            Some(0.0),
            "line discounts carry the coupon"
        );
        assert_eq!(invoice.send_cost, Some(50_000.0));

        assert_eq!(body.order_details.len(), 2);
        let detail = &body.order_details[1];
        assert_eq!(detail.order_client_id, Some(1_000_000_001));
        assert_eq!(detail.order_detail_client_id, Some(1_000_000_003));
        assert_eq!(detail.product_detail_id, Some(502));
        assert_eq!(detail.row_id, Some(2));
        assert_eq!(detail.price, Some(50_000.0));
        assert_eq!(detail.count1, Some(2.0));
        assert_eq!(detail.discount, Some(10_000.0));
        assert_eq!(detail.tax_percent, Some(9.0));
        assert_eq!(detail.charge_percent, Some(1.0));
        assert_eq!(detail.store_id, Some(3));

        let receipt = &body.receipts[0];
        assert_eq!(receipt.order_client_id, Some(1_000_000_001));
        assert_eq!(receipt.tracking_code.as_deref(), Some("201"));
        assert_eq!(receipt.cash_amount, Some(0.0));
        let cheque = &body.cheques[0];
        assert_eq!(cheque.receipt_client_id, Some(1_000_000_004));
        assert_eq!(cheque.cheque_type, Some(2));
        assert_eq!(cheque.amount, Some(248_000.0));
        assert_eq!(cheque.bank_name.as_deref(), Some("zarinpal"));
    }

    #[test]
    fn a_known_customer_is_referred_to_by_id_and_an_unpaid_charge_has_no_receipt() {
        let (mut order, customer) = (order(), customer(Some(77)));
        // A retry after Mahak saved the order: it is sent with its id (an update).
        order.mahak_order_id = Some(900);
        let lines = [line(501, 1_000_000_002)];
        let body = invoice(
            &Invoice {
                order: &order,
                customer: &customer,
                lines: &lines,
                payment: None,
            },
            &to(),
        )
        .unwrap();
        assert!(body.people.is_empty() && body.visitor_people.is_empty());
        assert_eq!(body.orders[0].person_id, Some(77));
        assert_eq!(body.orders[0].person_client_id, None);
        assert_eq!(body.orders[0].order_id, Some(900));
        assert_eq!(body.order_details[0].order_id, Some(900));
        assert!(body.receipts.is_empty() && body.cheques.is_empty());
    }

    #[test]
    fn a_return_references_the_invoice_and_gives_every_line_back() {
        let mut order = order();
        order.mahak_order_id = Some(900);
        let lines = [line(501, 1_000_000_002)];
        let body = sales_return(&order, &customer(Some(77)), &lines, "refunded", &to()).unwrap();
        let ret = &body.orders[0];
        assert_eq!(ret.order_type, Some(SALES_RETURN));
        assert_eq!(ret.reference_order_id, Some(900));
        assert_eq!(ret.order_client_id, Some(1_000_000_009));
        assert_eq!(ret.person_id, Some(77));
        let detail = &body.order_details[0];
        assert_eq!(detail.order_client_id, Some(1_000_000_009));
        assert_eq!(detail.order_detail_client_id, Some(1_000_000_102));
        assert_eq!(detail.count1, Some(2.0));
    }
}
