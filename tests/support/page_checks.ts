/**
 * Checks a browser test runs on every console page: no sideways page scroll, and the contrast
 * of every visible piece of text against the background it is drawn on (WCAG 2: at least 4.5:1),
 * computed in the browser from the colours the page really uses.
 */
import type { Page } from "playwright-core";

export interface ContrastProblem {
  text: string;
  color: string;
  background: string;
  ratio: number;
}

/** How far the page scrolls sideways (0 when it fits the window). */
export function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(() => {
    // deno-lint-ignore no-explicit-any
    const root = (globalThis as any).document.documentElement;
    return Math.max(0, root.scrollWidth - root.clientWidth);
  });
}

/** The outermost elements that reach past the window's right edge, for a failure message. */
export function overflowingElements(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    // deno-lint-ignore no-explicit-any
    const doc = (globalThis as any).document;
    const limit = doc.documentElement.clientWidth;
    const out: string[] = [];
    for (const el of doc.body.querySelectorAll("*")) {
      const r = el.getBoundingClientRect();
      if (
        r.right <= limit + 0.5 ||
        el.closest(".table-scroll, pre")?.contains(el) && el.closest(".table-scroll, pre") !== el
      ) continue;
      const parentOver = el.parentElement &&
        el.parentElement.getBoundingClientRect().right > limit + 0.5;
      if (parentOver) continue;
      out.push(
        `${el.tagName.toLowerCase()}.${[...el.classList].join(".")} right=${Math.round(r.right)}`,
      );
    }
    return out.slice(0, 10);
  });
}

/** Text below 4.5:1 against its background; disabled controls are exempt, as in WCAG. */
export function contrastProblems(page: Page, minimum = 4.5): Promise<ContrastProblem[]> {
  // A function, not a string: the console's CSP forbids eval.
  return page.evaluate((min) => {
    // deno-lint-ignore no-explicit-any
    const g = globalThis as any;
    type Rgba = [number, number, number, number];
    // deno-lint-ignore no-explicit-any
    type Element = any;
    const parse = (s: string): Rgba => {
      const m = s.match(/rgba?\(([^)]+)\)/);
      if (!m) return [0, 0, 0, 0];
      const p = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
      return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
    };
    const over = (top: Rgba, under: Rgba): Rgba => {
      const a = top[3] + under[3] * (1 - top[3]);
      if (a === 0) return [255, 255, 255, 0];
      const mix = (i: number) => (top[i] * top[3] + under[i] * under[3] * (1 - top[3])) / a;
      return [mix(0), mix(1), mix(2), a];
    };
    const lum = (c: Rgba) => {
      const f = (v: number) => {
        const x = v / 255;
        return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
    };
    const background = (el: Element): Rgba => {
      const chain: Rgba[] = [];
      for (let e: Element | null = el; e; e = e.parentElement) {
        chain.push(parse(g.getComputedStyle(e).backgroundColor));
      }
      let bg: Rgba = [255, 255, 255, 1];
      for (const c of chain.reverse()) bg = over(c, bg);
      return bg;
    };
    const out: { text: string; color: string; background: string; ratio: number }[] = [];
    const walker = g.document.createTreeWalker(g.document.body, 4 /* SHOW_TEXT */);
    const seen = new Set<Element>();
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement as Element | null;
      if (!el || seen.has(el) || !n.textContent.trim()) continue;
      seen.add(el);
      if (el.closest("[disabled], [hidden], noscript, option, script, style")) continue;
      const rects = el.getClientRects();
      const style = g.getComputedStyle(el);
      if (!rects.length || style.visibility === "hidden") continue;
      if (el.closest(".skip") && !el.matches(":focus")) continue; // off screen until focused
      const bg = background(el);
      // SVG text (the chart's labels) is painted with fill, not color.
      const paint = el.closest("svg") ? style.fill : style.color;
      const fg = over(parse(paint), bg);
      const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
      const ratio = (a + 0.05) / (b + 0.05);
      if (ratio < min) {
        out.push({
          text: n.textContent.trim().slice(0, 40),
          color: paint,
          background: `rgb(${bg.slice(0, 3).map(Math.round).join(", ")})`,
          ratio: Math.round(ratio * 100) / 100,
        });
      }
    }
    return out;
  }, minimum);
}
