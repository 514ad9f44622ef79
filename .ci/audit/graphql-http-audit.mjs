// Runs the graphql-http conformance audit (GraphQL over HTTP spec) against each endpoint of a
// live server. Usage: node graphql-http-audit.mjs http://127.0.0.1:8080/graphql [...more urls]
// Prints every result; exits 1 when any MUST audit fails. Warnings (SHOULD/MAY) are printed
// and counted; the README lists the accepted ones with the reason.
import { auditServer } from 'graphql-http';

const urls = process.argv.slice(2);
if (urls.length === 0) {
  console.error('usage: node graphql-http-audit.mjs <url> [url...]');
  process.exit(2);
}
let errors = 0;
for (const url of urls) {
  const results = await auditServer({ url });
  const counts = { ok: 0, warn: 0, error: 0 };
  console.log(`\n# graphql-http audit of ${url}`);
  for (const result of results) {
    counts[result.status] += 1;
    const mark = { ok: 'ok   ', warn: 'WARN ', error: 'ERROR' }[result.status];
    let line = `${mark} ${result.name}`;
    if (result.status !== 'ok') {
      const response = result.response;
      line += `\n      -> ${result.reason}`;
      if (response) line += ` (status ${response.status}, content-type ${response.headers.get('content-type')})`;
    }
    console.log(line);
  }
  console.log(`${url}: ${results.length} audits, ${counts.ok} ok, ${counts.warn} warnings, ${counts.error} errors`);
  errors += counts.error;
}
process.exit(errors === 0 ? 0 : 1);
