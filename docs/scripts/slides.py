"""Slides for every lesson, made from the lesson itself: its goals, figures with their captions,
displayed equations, numbered results, tables, lists of findings, self-checks and exercises.

    python docs/scripts/slides.py                 # docs/slides/lesson1.html … lesson7.html
    python docs/scripts/slides.py --embed -o DIR  # the same with the figures inside each file (one file to mail)
    python docs/scripts/slides.py --png lesson2 -o DIR   # every slide of lesson 2 as a PNG (needs Chromium)

Each deck is one HTML file with no external dependency: the figures are the lesson's own
(``docs/figures/``, referenced relatively, or embedded with ``--embed``), the equations are the
lesson's Unicode text. In a browser: → / space / click for the next slide, ← for the previous one,
``p`` (or the browser's print dialog) for a PDF with one slide a page; ``#7`` in the address opens
slide 7. Text that does not fit is set smaller until it does; opened with ``?check`` the deck writes,
per slide, whether it still overflows and whether its images loaded (``tests/test_course.py``
reads that with headless Chromium).

A slide is never written by hand, so the slides cannot drift from the lessons: change the lesson and
rebuild (``tests/test_course.py`` checks that the committed decks are up to date).
"""
from __future__ import annotations

import argparse
import base64
import html
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
SLIDES = DOCS / "slides"
LESSONS = sorted(DOCS.glob("lesson[1-7]_*.md"))
RESULT = re.compile(r"^\*\*((?:The paper's )?(?:Theorem|Lemma|Proposition|Observation|Definition)[^*]*)\*\*")
MAX_RESULT_BLOCKS = 3
#: Lessons taught in two lectures (docs/plan.md): the result that opens the second, and its title slide.
PARTS = {"lesson4": ("Theorem 4.5", "Lesson 4, part 2 — what MGBP enforces, and what it does not",
                     "Theorem 4.5, Proposition 4.6, Observation 4.7; the experiments; the paper's claim corrected; "
                     "when the assumptions fail (§3 from Theorem 4.5, §4–7).")}


@dataclass
class Slide:
    kind: str                       # title, figure, equation, result, table, list, text
    title: str
    body: list = field(default_factory=list)     # (kind, payload) parts: p, code, img, table, ul
    section: str = ""


# ------------------------------------------------------------------------------------------------
# reading a lesson

def blocks(text):
    """The lesson as a list of blocks: ("h1"/"h2", text), ("code", (lang, text)), ("img", (alt, src)),
    ("table", rows), ("ul"/"ol", items), ("p", text)."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if line.startswith("```"):
            lang, body = line[3:].strip(), []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            out.append(("code", (lang, "\n".join(body))))
            i += 1
            continue
        m = re.match(r"^(#{1,3}) (.*)", line)
        if m:
            out.append(("h%d" % len(m.group(1)), m.group(2).strip()))
            i += 1
            continue
        m = re.match(r"^!\[([^\]]*)\]\(([^)]+)\)\s*$", line)
        if m:
            out.append(("img", (m.group(1), m.group(2))))
            i += 1
            continue
        if line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                    rows.append(cells)
                i += 1
            out.append(("table", rows))
            continue
        if re.match(r"^(\* |\d+\. )", line):
            ordered = bool(re.match(r"^\d+\. ", line))
            items = []
            while i < len(lines) and lines[i].strip() and (re.match(r"^(\* |\d+\. )", lines[i]) or lines[i].startswith(" ")):
                if re.match(r"^(\* |\d+\. )", lines[i]):
                    items.append(re.sub(r"^(\* |\d+\. )", "", lines[i]))
                else:
                    items[-1] += " " + lines[i].strip()
                i += 1
            out.append(("ol" if ordered else "ul", items))
            continue
        if line.startswith(">") or line.startswith("<details") or line.startswith("</details"):
            i += 1
            continue
        para = []
        while i < len(lines) and lines[i].strip() and not lines[i].startswith(("```", "|", "#", "![")):
            para.append(lines[i].strip())
            i += 1
        out.append(("p", " ".join(para)))
    return out


def sentences(text, n, limit=420):
    """The first ``n`` sentences of a paragraph (cut at ``limit`` characters), keeping code spans and
    bold spans whole; a leading bold label ("**Sharpening.**") does not count as a sentence."""
    parts, cur, in_code, in_bold = [], "", False, False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "`":
            in_code = not in_code
        elif text.startswith("**", i) and not in_code:
            in_bold = not in_bold
            cur += "**"
            i += 2
            continue
        cur += ch
        if not (in_code or in_bold) and ch in ".?!" and (i + 1 == len(text) or text[i + 1] == " ") \
                and not re.search(r"(e\.g|i\.e|et al|eq|eqs|Fig|cf|vs|resp)\.$", cur.strip()):
            if re.fullmatch(r"\*\*[^*]+\*\*", cur.strip()) or not cur.strip():
                i += 1
                continue
            parts.append(cur.strip())
            cur = ""
            if len(parts) == n:
                break
        i += 1
    if len(parts) < n and cur.strip():
        parts.append(cur.strip())
    out = " ".join(parts)
    if len(out) > limit:
        cut = out[:limit]
        if cut.count("`") % 2:
            cut = cut[:cut.rfind("`")]
        if cut.count("**") % 2:
            cut = cut[:cut.rfind("**")]
        out = cut.rsplit(" ", 1)[0] + " …"
    return out


def strip_emphasis(text):
    return text[1:-1] if text.startswith("*") and text.endswith("*") and not text.startswith("**") else text


def lesson_slides(path):
    """The slides of one lesson."""
    bl = blocks(path.read_text())
    title = next(t for k, t in bl if k == "h1")
    header = next((t for k, t in bl if k == "p" and t.startswith("*Prerequisites")), "")
    goals = next((t for k, t in bl if k == "p" and t.startswith("**Goals.**")), "")
    slides = [Slide("title", title, [("p", strip_emphasis(sentences(header.strip("*"), 2, 300))) if header else None,
                                     ("p", goals)] if goals else [])]
    slides[0].body = [b for b in slides[0].body if b]
    section, i, used = "", 0, set()
    while i < len(bl):
        kind, payload = bl[i]
        if kind == "h2":
            section = payload
            i += 1
            continue
        if section.startswith(("Self-checks", "Exercises")):
            if kind in ("ol", "ul"):
                items = [sentences(it, 2, 260) for it in payload]
                slides.append(Slide("list", section, [(kind, items)], section))
            i += 1
            continue
        if kind == "img":
            caption = ""
            if i + 1 < len(bl) and bl[i + 1][0] == "p" and bl[i + 1][1].startswith("*"):
                caption = sentences(strip_emphasis(bl[i + 1][1]), 3, 460)
                used.add(i + 1)
            slides.append(Slide("figure", section or title, [("img", payload[1]), ("p", caption)], section))
        elif kind == "p" and RESULT.match(payload):
            label = RESULT.match(payload).group(1).rstrip(".")
            body, j = [("p", sentences(payload[RESULT.match(payload).end():].strip(), 4, 600))], i + 1
            while j < len(bl) and len(body) < MAX_RESULT_BLOCKS:
                k2, p2 = bl[j]
                if k2 in ("h2", "img", "table") or (k2 == "p" and (p2.startswith(("*Proof", "**Proof", "**", "*"))
                                                                     or RESULT.match(p2))):
                    break
                if k2 == "code":
                    body.append(("code", p2[1]))
                elif k2 == "p":
                    body.append(("p", sentences(p2, 2, 300)))
                elif k2 in ("ul", "ol"):
                    body.append((k2, [sentences(it, 1, 200) for it in p2]))
                used.add(j)
                j += 1
            part2 = PARTS.get(path.name[:7])
            if part2 and label.startswith(part2[0]):
                slides.append(Slide("title", part2[1], [("p", part2[2])], section))
            slides.append(Slide("result", label, body, section))
        elif kind == "code" and i not in used:
            lang, code = payload
            lines = code.splitlines()
            if lang in ("", "text") and 0 < len(lines) <= 14 or lang == "python" and len(lines) <= 10:
                lead = ""
                prev = bl[i - 1][1] if i > 0 and bl[i - 1][0] == "p" else ""
                if prev and (not prev.startswith("*") or prev.startswith("**")) and not RESULT.match(prev):
                    lead = sentences(bl[i - 1][1].split(". ")[-1] if len(bl[i - 1][1]) > 300 else bl[i - 1][1], 2, 300)
                part = ([("p", lead)] if lead else []) + [("code", code)]
                last = slides[-1]
                # consecutive displays of one section share a slide (at most three, about 12 lines)
                if last.kind == "equation" and last.section == section and \
                        sum(1 for k, _ in last.body if k == "code") < 3 and \
                        sum(len(v.splitlines()) for k, v in last.body if k == "code") + len(lines) <= 12:
                    last.body.extend(part)
                else:
                    slides.append(Slide("equation", section or title, part, section))
        elif kind == "table" and len(payload) <= 12 and section and not section.startswith("Notation"):
            slides.append(Slide("table", section, [("table", payload)], section))
        elif kind == "ul" and len(payload) >= 2:
            lead = bl[i - 1][1] if i > 0 and bl[i - 1][0] == "p" else ""
            m = re.match(r"^\*\*([^*]+)\*\*", lead)
            head = f"{section} — {m.group(1).rstrip('.')}" if m and len(m.group(1)) < 60 else section
            slides.append(Slide("list", head or title, [("ul", [sentences(it, 1, 240) for it in payload])], section))
        i += 1
    notebook = re.search(r"`(docs/notebooks/lesson\d\.py)`", header)
    lab = re.search(r"\[(lab \d[^\]]*)\]\((labs/[^)]+)\)", header)
    end = [("p", f"Notebook: <code>{notebook.group(1)}</code> — its figures, self-checks and controls.")] if notebook else []
    if lab:
        end.append(("p", f"Lab: {html.escape(lab.group(1))} (<code>docs/{lab.group(2)}</code>)."))
    end.append(("p", f"The lesson: <code>docs/{path.name}</code>."))
    slides.append(Slide("text", "To take home", end, ""))
    return title, slides


# ------------------------------------------------------------------------------------------------
# HTML

def inline(text):
    """Markdown inline spans as HTML: code, bold, italics, links (their text)."""
    parts = re.split(r"(`[^`]*`)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
            continue
        t = html.escape(part, quote=False)
        t = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", t)
        t = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", t)
        t = re.sub(r"(?<![\w*])\*([^*]+)\*(?![\w*])", r"<i>\1</i>", t)
        out.append(t)
    return "".join(out)


def _image_src(src, embed):
    path = (DOCS / src).resolve()
    if embed:
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
    return "../" + src


def slide_html(slide, n, total, lesson_title, embed):
    parts = []
    for kind, payload in slide.body:
        if kind == "p" and payload:
            parts.append(f"<p>{payload if payload.startswith(('Notebook:', 'Lab:', 'The lesson:')) else inline(payload)}</p>")
        elif kind == "code":
            parts.append(f"<pre>{html.escape(payload)}</pre>")
        elif kind == "img":
            parts.append(f'<div class="fig"><img src="{_image_src(payload, embed)}" data-src="{html.escape(payload)}" '
                         f'alt=""></div>')
        elif kind in ("ul", "ol"):
            items = "".join(f"<li>{inline(it)}</li>" for it in payload)
            parts.append(f"<{kind}>{items}</{kind}>")
        elif kind == "table":
            head, *rows = payload
            th = "".join(f"<th>{inline(c)}</th>" for c in head)
            trs = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in rows)
            parts.append(f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>")
    title = inline(slide.title)
    cls = f"slide {slide.kind}"
    head = f"<h1>{title}</h1>" if slide.kind == "title" else f"<h2>{title}</h2>"
    foot = f'<footer>{inline(lesson_title)} · {n}/{total}</footer>'
    return f'<section class="{cls}" id="s{n}">{head}<div class="body">{"".join(parts)}</div>{foot}</section>'


CSS = """
:root { --w: 1280px; --h: 720px; }
html, body { margin: 0; background: #222; font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; }
.deck { position: relative; width: var(--w); height: var(--h); transform-origin: 0 0; }
.slide { position: absolute; inset: 0; box-sizing: border-box; width: var(--w); height: var(--h); padding: 34px 56px 44px;
         background: #fff; color: #1a1a1a; display: none; flex-direction: column; overflow: hidden; font-size: 26px; }
.slide.active { display: flex; }
.slide h1 { font-size: 46px; margin: 120px 0 28px; color: #0b3d6e; }
.slide h2 { font-size: 32px; margin: 0 0 14px; color: #0b3d6e; border-bottom: 2px solid #c9d6e3; padding-bottom: 6px; }
.body { flex: 1; min-height: 0; display: flex; flex-direction: column; gap: 10px; }
.body p { margin: 0; line-height: 1.35; }
.body pre { margin: 0; background: #f3f6f9; border-left: 4px solid #5b8db8; padding: 10px 16px;
            font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.82em; white-space: pre; line-height: 1.3; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.9em; background: #f3f6f9; padding: 0 3px; }
.fig { flex: 1; min-height: 0; display: flex; justify-content: center; }
.fig img { max-width: 100%; max-height: 100%; object-fit: contain; }
.figure .body p { font-size: 0.68em; color: #333; }
.body ul, .body ol { margin: 0; padding-left: 1.2em; line-height: 1.35; }
.body li { margin: 0 0 8px; }
table { border-collapse: collapse; font-size: 0.78em; }
th, td { border: 1px solid #c9d6e3; padding: 4px 10px; text-align: left; }
th { background: #eef3f8; }
.equation .body { justify-content: center; gap: 18px; }
.equation .body pre { font-size: 0.95em; }
.result h2 { color: #7a2e00; border-color: #f0c9a8; }
.result .body { background: #fffaf5; padding: 10px 14px; border-radius: 6px; }
footer { position: absolute; left: 56px; right: 56px; bottom: 12px; font-size: 14px; color: #777; }
@media print {
  @page { size: 1280px 720px; margin: 0; }
  html, body { background: #fff; }
  .deck { transform: none !important; }
  .slide { display: flex !important; position: relative; page-break-after: always; break-after: page; }
}
"""

JS = r"""
const slides = Array.from(document.querySelectorAll('.slide'));
const deck = document.querySelector('.deck');
let cur = 0;
function fit() {
  const s = Math.min(window.innerWidth / 1280, window.innerHeight / 720);
  deck.style.transform = `scale(${s})`;
}
function over(el) { const b = el.querySelector('.body'); return b.scrollHeight > b.clientHeight + 1 || b.scrollWidth > b.clientWidth + 1; }
function shrink(el) {   // a display too wide is set smaller on its own; then the whole slide until it fits (not below 12 px)
  if (el.dataset.fitted) return;
  el.querySelectorAll('pre, table').forEach(pre => {
    let size = parseFloat(getComputedStyle(pre).fontSize);
    while (pre.scrollWidth > pre.clientWidth + 1 && size > 12) { size -= 1; pre.style.fontSize = size + 'px'; }
  });
  let size = parseFloat(getComputedStyle(el).fontSize);
  while (over(el) && size > 12) { size -= 1; el.style.fontSize = size + 'px'; }
  el.dataset.fitted = '1';
}
function show(n) {
  cur = Math.max(0, Math.min(slides.length - 1, n));
  slides.forEach((s, i) => s.classList.toggle('active', i === cur));
  shrink(slides[cur]);
  if (location.hash !== '#' + (cur + 1)) history.replaceState(null, '', '#' + (cur + 1));
}
function check() {     // every slide: does it still overflow, did its images load
  const report = slides.map((s, i) => {
    slides.forEach((t, j) => t.classList.toggle('active', j === i));
    shrink(s);
    const imgs = Array.from(s.querySelectorAll('img'));
    return {slide: i + 1, overflow: over(s), images: imgs.length,
            broken: imgs.filter(im => !(im.complete && im.naturalWidth > 0)).map(im => im.dataset.src),
            text: s.innerText.trim().length};
  });
  const pre = document.createElement('pre');
  pre.id = 'slide-check';
  pre.textContent = JSON.stringify(report);
  document.body.appendChild(pre);
}
window.addEventListener('resize', fit);
document.addEventListener('keydown', e => {
  if (['ArrowRight', 'PageDown', ' '].includes(e.key)) show(cur + 1);
  if (['ArrowLeft', 'PageUp'].includes(e.key)) show(cur - 1);
  if (e.key === 'Home') show(0);
  if (e.key === 'End') show(slides.length - 1);
  if (e.key === 'p') { slides.forEach(shrink); window.print(); }
});
deck.addEventListener('click', e => show(cur + (e.clientX > window.innerWidth / 3 ? 1 : -1)));
window.addEventListener('load', () => {
  fit();
  if (location.search.includes('check')) { check(); return; }
  show((parseInt(location.hash.slice(1)) || 1) - 1);
});
window.addEventListener('beforeprint', () => slides.forEach(shrink));
"""


def deck_html(path, embed=False):
    title, slides = lesson_slides(path)
    total = len(slides)
    body = "\n".join(slide_html(s, n, total, title, embed) for n, s in enumerate(slides, start=1))
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)} — slides</title>\n"
            f"<!-- made by docs/scripts/slides.py from docs/{path.name}: do not edit -->\n"
            f"<style>{CSS}</style>\n</head>\n<body>\n<div class=\"deck\">\n{body}\n</div>\n"
            f"<script>{JS}</script>\n</body>\n</html>\n")


def deck_path(lesson, out=SLIDES):
    n = re.match(r"lesson(\d)", lesson.name).group(1)
    return Path(out) / f"lesson{n}.html"


def build(out=SLIDES, embed=False):
    """Write every lesson's deck into ``out``; returns the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for lesson in LESSONS:
        p = deck_path(lesson, out)
        p.write_text(deck_html(lesson, embed=embed))
        paths.append(p)
    return paths


def chromium():
    """The Chromium (or Chrome) executable, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        exe = shutil.which(name)
        if exe:
            return exe
    return None


def _chromium_args(exe):
    return [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--allow-file-access-from-files",
            "--virtual-time-budget=4000"]


def render_check(deck, exe=None):
    """Open ``deck`` with ``?check`` in headless Chromium; returns the per-slide report (a list of dicts)."""
    import json
    exe = exe or chromium()
    if exe is None:
        raise RuntimeError("no Chromium found")
    run = subprocess.run(_chromium_args(exe) + ["--window-size=1280,720", "--dump-dom",
                                                 Path(deck).resolve().as_uri() + "?check"],
                         capture_output=True, text=True, timeout=180)
    m = re.search(r'<pre id="slide-check">(.*?)</pre>', run.stdout, re.S)
    if not m:
        raise RuntimeError(f"no check report from Chromium: {run.stderr[-500:]}")
    return json.loads(html.unescape(m.group(1)))


def render_png(deck, outdir, slides=None, exe=None, prefix=None):
    """Screenshots of the slides of ``deck`` (1280 × 720 PNG) into ``outdir``; returns their paths."""
    exe = exe or chromium()
    if exe is None:
        raise RuntimeError("no Chromium found")
    deck = Path(deck)
    total = len(re.findall(r'<section class="slide', deck.read_text()))
    prefix = prefix or f"slides_{deck.stem}"
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in (slides or range(1, total + 1)):
        target = outdir / f"{prefix}_{n:02d}.png"
        subprocess.run(_chromium_args(exe) + ["--window-size=1280,720", f"--screenshot={target}",
                                              deck.resolve().as_uri() + f"#{n}"],
                       capture_output=True, timeout=180, check=True)
        paths.append(target)
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", default=str(SLIDES), help="folder of the decks (default docs/slides)")
    parser.add_argument("--embed", action="store_true", help="put the figures inside the HTML files")
    parser.add_argument("--png", metavar="LESSON", help="also render this deck (e.g. lesson2) to PNG pages in --out")
    args = parser.parse_args(argv)
    if args.png:
        deck = SLIDES / f"{args.png}.html"
        for p in render_png(deck, args.out):
            print(p)
        return
    if args.embed and Path(args.out).resolve() == SLIDES.resolve():
        sys.exit("--embed writes large files: give another folder with -o")
    for p in build(args.out, embed=args.embed):
        print(p)


if __name__ == "__main__":
    main()
