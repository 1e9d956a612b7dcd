"""Front matter: its three formats, the image URLs under the configured keys, exact spans."""

from __future__ import annotations

import pytest

from gallery.config import Config
from gallery.model import RefKind
from gallery.scan import find_refs

FRONT, MD = RefKind.FRONTMATTER, RefKind.MARKDOWN


def refs(text: str, config: Config = Config()) -> list[tuple[RefKind, str, int, int, str]]:
    """(kind, url, line, column, source text at the span) of each ref."""
    data = text.encode()
    scan = find_refs(text, config)
    return [(r.kind, r.url, r.line, r.column, data[r.start : r.end].decode()) for r in scan.refs]


YAML = """\
---
title: "Hello"
Image: /images/cover.jpg
images:
  - /images/a.jpg
  - "/images/b c.jpg"
  - 3
thumbnail: [t1.png, 't''2.png']
cover:
  image: 'covers/x.png'
  alt: a cover
featured_image: "esc\\"q\\u00e9.jpg"
banner: 42
og_image: ""
url: /custom/
slug: my-post
---
![](body.png)
"""


def test_yaml() -> None:
    scan = find_refs(YAML, Config())
    assert refs(YAML) == [
        (FRONT, "/images/cover.jpg", 3, 8, "/images/cover.jpg"),
        (FRONT, "/images/a.jpg", 5, 5, "/images/a.jpg"),
        (FRONT, "/images/b c.jpg", 6, 6, "/images/b c.jpg"),
        (FRONT, "t1.png", 8, 13, "t1.png"),
        (FRONT, "t'2.png", 8, 22, "t''2.png"),
        (FRONT, "covers/x.png", 10, 11, "covers/x.png"),
        (FRONT, 'esc"qé.jpg', 12, 18, 'esc\\"q\\u00e9.jpg'),
        (MD, "body.png", 18, 5, "body.png"),
    ]
    assert (scan.front_matter["url"], scan.front_matter["slug"], scan.problems) == ("/custom/", "my-post", ())


TOML = """\
+++
title = "Hello"
image = "/images/cover.jpg"
images = [
  "/images/a.jpg", # the first
  '/images/b c.jpg',
]
'featured_image' = "esc\\"q\\u00e9.jpg"
thumbnail.src = "not-wanted.jpg"
og_image = '''multi.jpg'''
url = "/custom/"
slug = 'my-post'

[cover]
image = "covers/x.png"
alt = "a cover"

[params]
image = "params.jpg"
+++
![](body.png)
"""


def test_toml() -> None:
    scan = find_refs(TOML, Config())
    assert refs(TOML) == [
        (FRONT, "/images/cover.jpg", 3, 10, "/images/cover.jpg"),
        (FRONT, "/images/a.jpg", 5, 4, "/images/a.jpg"),
        (FRONT, "/images/b c.jpg", 6, 4, "/images/b c.jpg"),
        (FRONT, 'esc"qé.jpg', 8, 21, 'esc\\"q\\u00e9.jpg'),
        (FRONT, "multi.jpg", 10, 15, "multi.jpg"),
        (FRONT, "covers/x.png", 15, 10, "covers/x.png"),
        (MD, "body.png", 21, 5, "body.png"),
    ]
    assert (scan.front_matter["url"], scan.front_matter["slug"], scan.problems) == ("/custom/", "my-post", ())


def test_toml_dotted_keys_and_inline_tables() -> None:
    text = '+++\ncover.image = "dotted.png"\n[params]\nbanner = { src = "x", image = "no.png" }\n+++\n'
    config = Config(frontmatter_keys=("cover.image", "params.banner.image"))
    assert refs(text, config) == [
        (FRONT, "dotted.png", 2, 16, "dotted.png"),
        (FRONT, "no.png", 4, 32, "no.png"),
    ]


JSON = """\
{
  "title": "Hello",
  "image": "/images/cover.jpg",
  "images": ["/images/a.jpg", 3, "/images/b\\u00e9.jpg"],
  "cover": {"image": "covers/x.png", "alt": "a cover"},
  "url": "/custom/",
  "slug": "my-post"
}
![](body.png)
"""


def test_json() -> None:
    scan = find_refs(JSON, Config())
    assert refs(JSON) == [
        (FRONT, "/images/cover.jpg", 3, 13, "/images/cover.jpg"),
        (FRONT, "/images/a.jpg", 4, 15, "/images/a.jpg"),
        (FRONT, "/images/bé.jpg", 4, 35, "/images/b\\u00e9.jpg"),
        (FRONT, "covers/x.png", 5, 23, "covers/x.png"),
        (MD, "body.png", 9, 5, "body.png"),
    ]
    assert (scan.front_matter["url"], scan.front_matter["slug"], scan.problems) == ("/custom/", "my-post", ())


def test_configured_keys_only() -> None:
    text = "---\nimage: a.jpg\nhero: b.jpg\nparams:\n  hero: c.jpg\n---\n"
    assert refs(text, Config(frontmatter_keys=("params.hero",))) == [(FRONT, "c.jpg", 5, 9, "c.jpg")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("---\nimage: [a.jpg\n---\n![](x.png)\n", "front matter: invalid YAML", id="yaml"),
        pytest.param("---\n- a list\n---\n![](x.png)\n", "front matter: invalid YAML", id="yaml-not-a-mapping"),
        pytest.param('+++\nimage = "a.jpg\n+++\n![](x.png)\n', "front matter: invalid TOML", id="toml"),
        pytest.param("---\nimage: a.jpg\n\n![](x.png)\n", "front matter: no closing --- line", id="unclosed"),
    ],
)
def test_malformed_front_matter_is_one_problem_and_the_body_is_scanned(text: str, message: str) -> None:
    scan = find_refs(text, Config())
    assert len(scan.problems) == 1 and scan.problems[0].startswith(message), scan.problems
    assert [(r.kind, r.url, r.line) for r in scan.refs] == [(MD, "x.png", 4)]


def test_malformed_json_is_one_problem() -> None:
    scan = find_refs('{"image": "a.jpg",\n}\n\n![](x.png)\n', Config())
    assert len(scan.problems) == 1 and scan.problems[0].startswith("front matter: invalid JSON"), scan.problems
    assert [(r.kind, r.url, r.line) for r in scan.refs] == [(MD, "x.png", 4)]


def test_a_shortcode_first_is_not_json_front_matter() -> None:
    scan = find_refs('{{< figure src="a.jpg" >}}\n![](b.png)\n', Config())
    assert (scan.problems, scan.front_matter) == ((), {})
    assert [(r.kind, r.url) for r in scan.refs] == [(RefKind.SHORTCODE, "a.jpg"), (MD, "b.png")]


def test_front_matter_ends_at_the_first_delimiter_line_as_in_hugo() -> None:
    text = "---\nimage: a.jpg\n-------------\n![](b.png)\n"
    assert refs(text) == [(FRONT, "a.jpg", 2, 8, "a.jpg"), (MD, "b.png", 4, 5, "b.png")]


def test_crlf_front_matter() -> None:
    text = "+++\r\nimage = 'a.jpg'\r\n+++\r\n![](b.png)\r\n"
    assert refs(text) == [(FRONT, "a.jpg", 2, 10, "a.jpg"), (MD, "b.png", 4, 5, "b.png")]


def test_yaml_anchors_tags_and_block_scalars() -> None:
    text = "---\nimage: &cover /y.jpg\nimages: [*cover, !!str z.jpg]\nthumbnail: >-\n  /t.jpg\nbanner: |\n  /b.jpg\n---\n"
    assert refs(text) == [
        (FRONT, "/y.jpg", 2, 15, "/y.jpg"),  # the alias is the same node: one span
        (FRONT, "z.jpg", 3, 24, "z.jpg"),
        (FRONT, "/t.jpg", 5, 3, "/t.jpg"),
        (FRONT, "/b.jpg\n", 7, 3, "/b.jpg"),  # `|` keeps the line break in the value
    ]


def test_toml_multiline_strings_and_nested_arrays() -> None:
    text = '+++\nimage = """\n/m.jpg"""\nimages = [ "a.jpg", { src = "b.jpg" }, ["c.jpg"] ]\nbanner = \'\'\'b.jpg\'\'\'\n+++\n'
    assert refs(text) == [
        (FRONT, "/m.jpg", 3, 1, "/m.jpg"),  # TOML drops the line break after the opening quotes
        (FRONT, "a.jpg", 4, 13, "a.jpg"),
        (FRONT, "c.jpg", 4, 42, "c.jpg"),
        (FRONT, "b.jpg", 5, 13, "b.jpg"),
    ]
