/**
 * The bundled demo pipeline (engine.md §4): transactions and products feed sales, which feeds reports.
 * `sales` has three Ripples so its slowest one (join_lines, 3 s) sets the cadence of the whole chain.
 */
export const DEMO_SCENARIO = {
  until: '30s',
  ponds: [
    { name: 'transactions', ripples: [{ name: 'ingest', duration: '1s' }] },
    { name: 'products', ripples: [{ name: 'ingest', duration: '2s' }] },
    {
      name: 'sales',
      sources: ['transactions', 'products'],
      ripples: [
        { name: 'daily_sales', duration: '2s' },
        { name: 'price_tiers', duration: '1s' },
        { name: 'join_lines', parents: ['daily_sales', 'price_tiers'], duration: '3s' },
      ],
    },
    { name: 'reports', sources: ['sales'], ripples: [{ name: 'monthly_summary', duration: '1s' }] },
  ],
  events: [{ at: '0s', kind: 'wave', pond: 'reports' }],
};
