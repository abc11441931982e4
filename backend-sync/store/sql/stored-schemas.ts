import { z } from 'zod';
import type { Customer } from '../records.js';

// Schemas of JSON columns shared by several tables, for reading them back (json-column.ts).
// They check the shape the record promises, no more: what a value may contain was
// decided when it was accepted (the API's CustomerInput, the wire contract).

export const StoredCustomer: z.ZodType<Customer> = z.object({ name: z.string(), email: z.string().optional(), phone: z.string().optional(), customerId: z.string().optional() });

/** A JSON object with any members (command bodies, replies, notification payloads). */
export const JsonObject = z.record(z.string(), z.unknown());
