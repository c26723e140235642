"""Markdown, HTML and messy whitespace → plain text."""

from __future__ import annotations

import pytest

from citela_ingest.text import collapse_whitespace, plain_text


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, ""),
        ("   ", ""),
        (42, ""),
        ("**Horaires** : du _lundi_ au *vendredi*", "Horaires : du lundi au vendredi"),
        (
            "## Budget primitif 2024\n\nVoté le 12 avril.",
            "Budget primitif 2024\n\nVoté le 12 avril.",
        ),
        (
            "Voir [le site de la ville](https://www.pau.fr) et ![logo](logo.png) <https://x.fr/a>",
            "Voir le site de la ville et logo https://x.fr/a",
        ),
        (
            "-\tpremier point\n* second point\n1. numéroté",
            "- premier point\n- second point\n1. numéroté",
        ),
        ("> citation\n\n---\n\n`code_insee`", "citation\n\ncode_insee"),
        ("| commune | code |\n|---|---|\n| Pau | 64445 |", "commune code\n\nPau 64445"),
        ("fichier_communes_2024.csv et snake_case", "fichier_communes_2024.csv et snake_case"),
        (
            "<p>Caves Ackerman&nbsp;: <b>expo</b><br>2023&ndash;2025</p>"
            "<ul><li>un</li><li>deux</li></ul>",
            "Caves Ackerman : expo\n2023–2025\n\n- un\n- deux",
        ),
        ("Caf&amp;eacute; &eacute;t&eacute;", "Café été"),  # escaped twice at the source
        ("<script>alert(1)</script>Texte", "Texte"),
        ("<ul>\n  <li>un</li>\n  <li>deux</li>\n</ul>\n<p>fin</p>", "- un\n- deux\n\nfin"),
        ("a  \t b\u00a0\u202fc\r\n\r\n\r\n\r\nd", "a b c\n\nd"),
        ("1 < 2 et 3 > 2", "1 < 2 et 3 > 2"),
    ],
)
def test_plain_text(given: object, expected: str) -> None:
    assert plain_text(given) == expected


def test_collapse_whitespace_keeps_paragraphs() -> None:
    assert collapse_whitespace("  un\n  deux  \n\n\n\ntrois ") == "un\ndeux\n\ntrois"
