import type { Customer } from '../store/records.js';

// Who an order belongs to, for a customer's order history: the merchant's own customer id
// when the order names one, else the customer's email, lowercased (mail providers treat the
// address case-insensitively in practice, and "Ada@x" and "ada@x" are one customer to a
// shop). A customer id cannot contain '@' (orders/order-schemas.ts), so the two never meet.
// An order with neither (phone only) has no history key and is listed nowhere.

export function customerKey(c: Customer): string | undefined {
  return c.customerId ?? c.email?.toLowerCase();
}

/** The key a lookup by path parameter means: an email is matched case-insensitively. */
export function lookupKey(customerIdOrEmail: string): string {
  return customerIdOrEmail.includes('@') ? customerIdOrEmail.toLowerCase() : customerIdOrEmail;
}
