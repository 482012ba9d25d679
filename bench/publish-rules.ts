// Publishes a whole rules document through the admin API, part by part, as an admin
// would: accounts, catalog, periods, settings and partners first, then the
// promotions that refer to them. Returns the last version published.

export async function publishRules(adminUrl: string, token: string, rules: Record<string, unknown>): Promise<number> {
  let version = 0;
  const put = async (path: string, body: unknown): Promise<void> => {
    const res = await fetch(`${adminUrl}${path}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const answer = (await res.json()) as { version?: number };
    if (!res.ok) throw new Error(`PUT ${path} → ${res.status} ${JSON.stringify(answer)}`);
    version = answer.version ?? version;
  };
  const list = (key: string): Array<Record<string, unknown>> => (rules[key] as Array<Record<string, unknown>> | undefined) ?? [];
  for (const a of list('accounts')) await put(`/v1/rules/accounts/${encodeURIComponent(String(a.id))}`, a);
  if (rules.catalog !== undefined) await put('/v1/rules/catalog', rules.catalog);
  for (const p of list('periods')) await put(`/v1/periods/${encodeURIComponent(String(p.id))}`, p);
  if (rules.settings !== undefined) await put('/v1/rules/settings', rules.settings);
  for (const p of list('partners')) await put(`/v1/rules/partners/${encodeURIComponent(String(p.id))}`, p);
  for (const p of list('promotions')) await put(`/v1/promotions/${encodeURIComponent(String(p.id))}`, p);
  return version;
}
