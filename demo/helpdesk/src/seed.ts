// The demo's data: a small queue of tickets (some tagged refund_approved) and their customers.

export interface Customer {
  id: string;
  name: string;
  email: string;
  phone: string;
  card_last4: string;
  tier: 'standard' | 'gold';
}

export interface Ticket {
  id: string;
  subject: string;
  status: 'open' | 'pending' | 'closed';
  customer_id: string;
  tags: string[];
  /** The refund the customer asked for, in cents; 0 when none. */
  requested_refund_cents: number;
}

export interface Seed {
  customers: Customer[];
  tickets: Ticket[];
}

export function seedData(): Seed {
  const customers: Customer[] = [
    { id: 'C-501', name: 'Ada Byron', email: 'ada@example.com', phone: '+44 20 7946 0001', card_last4: '4242', tier: 'gold' },
    { id: 'C-502', name: 'Grace Hopper', email: 'grace@example.com', phone: '+1 202 555 0102', card_last4: '1881', tier: 'standard' },
    { id: 'C-503', name: 'Alan Turing', email: 'alan@example.com', phone: '+44 161 496 0003', card_last4: '0007', tier: 'standard' },
    { id: 'C-504', name: 'Edsger Dijkstra', email: 'edsger@example.com', phone: '+31 20 555 0104', card_last4: '1930', tier: 'gold' },
    { id: 'C-505', name: 'Barbara Liskov', email: 'barbara@example.com', phone: '+1 617 555 0105', card_last4: '1939', tier: 'standard' },
    { id: 'C-506', name: 'Ken Thompson', email: 'ken@example.com', phone: '+1 908 555 0106', card_last4: '1943', tier: 'standard' },
  ];
  const tickets: Ticket[] = [
    {
      id: 'T-1001',
      subject: 'Parcel arrived damaged',
      status: 'open',
      customer_id: 'C-501',
      tags: ['refund_approved', 'shipping'],
      requested_refund_cents: 2500,
    },
    {
      id: 'T-1002',
      subject: 'Charged twice for the annual plan',
      status: 'open',
      customer_id: 'C-502',
      tags: ['refund_approved', 'billing'],
      requested_refund_cents: 15000,
    },
    { id: 'T-1003', subject: 'How do I change my password?', status: 'open', customer_id: 'C-503', tags: ['account'], requested_refund_cents: 0 },
    {
      id: 'T-1004',
      subject: 'Want my money back, product is fine',
      status: 'open',
      customer_id: 'C-504',
      tags: ['refund_requested'],
      requested_refund_cents: 4000,
    },
    {
      id: 'T-1005',
      subject: 'Late delivery, voucher promised',
      status: 'open',
      customer_id: 'C-505',
      tags: ['refund_approved', 'shipping'],
      requested_refund_cents: 10000,
    },
    { id: 'T-1006', subject: 'Please delete my account and data', status: 'open', customer_id: 'C-506', tags: ['gdpr'], requested_refund_cents: 0 },
    { id: 'T-1007', subject: 'Export of my order history', status: 'pending', customer_id: 'C-501', tags: ['export'], requested_refund_cents: 0 },
    { id: 'T-1008', subject: 'Wrong size sent', status: 'open', customer_id: 'C-503', tags: ['refund_approved', 'shipping'], requested_refund_cents: 3999 },
    { id: 'T-1009', subject: 'Thanks for the quick help', status: 'closed', customer_id: 'C-502', tags: [], requested_refund_cents: 0 },
    {
      id: 'T-1010',
      subject: 'Wedding order cancelled, full refund',
      status: 'open',
      customer_id: 'C-504',
      tags: ['refund_approved', 'billing'],
      requested_refund_cents: 60000,
    },
  ];
  return { customers, tickets };
}
