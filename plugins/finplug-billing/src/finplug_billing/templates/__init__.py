"""The HTML template of invoices and credit notes (Jinja2).

:mod:`finplug_billing.render` compiles it with autoescaping on: every value
printed through ``{{ }}`` is escaped, so nothing here may mark a value safe.
The page is self-contained (inline CSS) and loads nothing. It reads a
:class:`finplug_billing.render.Document` as ``doc`` and its labels as ``L``.
The template is Python text rather than a data file so that it ships inside
the package's modules.
"""

from __future__ import annotations

from typing import Final

__all__ = ["DOCUMENT"]

DOCUMENT: Final = """\
<!DOCTYPE html>
<html lang="{{ doc.lang }}">
<head>
<meta charset="utf-8">
<title>{{ doc.title }} {{ doc.number }}</title>
<style>
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; font-size: 10pt;
  color: #1a1a1a; margin: 2em auto; max-width: 60em; }
header, .parties { display: flex; justify-content: space-between; gap: 2em; margin-bottom: 1.5em; }
h1 { font-size: 20pt; margin: 0; text-align: right; }
h2 { font-size: 11pt; margin: 1.5em 0 .4em; }
.number { text-align: right; font-size: 12pt; margin: .2em 0; }
table { border-collapse: collapse; }
th, td { text-align: left; vertical-align: top; padding: .3em .5em; }
.lines { width: 100%; }
.lines th { border-bottom: 2px solid #1a1a1a; }
.lines td { border-bottom: 1px solid #d0d0d0; }
.facts th { font-weight: normal; color: #555; }
.num { text-align: right; white-space: nowrap; }
.totals { margin: 1em 0 0 auto; }
.totals .strong td { font-weight: bold; border-top: 1px solid #1a1a1a; }
.banner { border: 2px solid #b00020; color: #b00020; font-weight: bold; padding: .5em 1em; }
.mark { position: fixed; top: 35%; left: 0; right: 0; text-align: center; font-size: 96pt;
  font-weight: bold; color: rgba(176, 0, 32, .12); transform: rotate(-30deg); z-index: -1; }
</style>
</head>
<body>
{% if doc.mark %}
<div class="mark" aria-hidden="true">{{ doc.mark }}</div>
<p class="banner" role="note">{{ doc.mark }} · {{ doc.mark_note }}</p>
{% endif %}
<header>
<div class="issuer">
<strong>{{ doc.issuer.name }}</strong>
{% for line in doc.issuer.address_lines %}<br>{{ line }}{% endfor %}
{% if doc.issuer.tax_id %}<br>{{ L.tax_id }}: {{ doc.issuer.tax_id }}{% endif %}
{% if doc.issuer.email %}<br>{{ L.email }}: {{ doc.issuer.email }}{% endif %}
</div>
<div>
<h1>{{ doc.title }}</h1>
<p class="number">{{ doc.number }}</p>
</div>
</header>
<section class="parties">
<div class="customer">
<h2>{{ L.bill_to }}</h2>
<strong>{{ doc.customer_name }}</strong>
{% for tax_id in doc.customer_tax_ids %}<br>{{ L.tax_id }}: {{ tax_id }}{% endfor %}
</div>
<table class="facts">
{% for label, value in doc.facts %}<tr><th>{{ label }}</th><td>{{ value }}</td></tr>
{% endfor %}
</table>
</section>
{% for table in [doc.lines, doc.related] if table %}
{% if table.caption %}<h2>{{ table.caption }}</h2>{% endif %}
<table class="lines">
<thead><tr>
{% for heading in table.headings %}\
<th{% if table.numeric[loop.index0] %} class="num"{% endif %}>{{ heading }}</th>{% endfor %}
</tr></thead>
<tbody>
{% for row in table.rows %}<tr>
{% for cell in row %}\
<td{% if table.numeric[loop.index0] %} class="num"{% endif %}>\
{% for part in cell %}{% if not loop.first %}<br>{% endif %}{{ part }}{% endfor %}</td>{% endfor %}
</tr>
{% endfor %}
</tbody>
</table>
{% if loop.first %}
<table class="totals">
{% for row in doc.totals %}\
<tr{% if row.strong %} class="strong"{% endif %}><td>{{ row.label }}</td>\
<td class="num">{{ row.value }}</td></tr>
{% endfor %}
</table>
{% endif %}
{% endfor %}
</body>
</html>
"""
"""The page of one document: its header, parties, lines, totals and related notes."""
