// A time-series chart (uPlot: canvas, ~50 KiB, no inline scripts or
// styles, so it runs under the portal's CSP). Series from a range query
// are joined on their timestamps; a point a series lacks is a gap.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { seriesName, type Range, type Series } from "./metrics";

const palette = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7f8f", "#57606a"];

/** Aligns the series on one time axis: uPlot's [xs, ys₁, ys₂, …]. */
export function align(series: Series[]): uPlot.AlignedData {
  const xs = [...new Set(series.flatMap((s) => s.points.map(([t]) => t)))].sort((a, b) => a - b);
  const index = new Map(xs.map((t, i) => [t, i]));
  const ys = series.map((s) => {
    const y: (number | null)[] = new Array(xs.length).fill(null);
    for (const [t, v] of s.points) y[index.get(t)!] = Number.isFinite(v) ? v : null;
    return y;
  });
  return [xs, ...ys];
}

/** The series of a range query, over the whole period it asked about; legend: a Grafana legend format such as {{site}}. */
export function Chart({ range, title, unit, legend }: { range: Range; title: string; unit?: string; legend?: string }) {
  const { series } = range;
  const el = useRef<HTMLDivElement>(null);
  const points = series.reduce((n, s) => n + s.points.length, 0);
  useEffect(() => {
    if (!el.current || points === 0) return;
    const width = Math.max(320, Math.min(900, el.current.parentElement?.clientWidth ?? 640));
    const plot = new uPlot(
      {
        width,
        height: 220,
        series: [
          {},
          ...series.map((s, i) => ({
            label: seriesName(s, legend),
            stroke: palette[i % palette.length],
            width: 1.5,
            spanGaps: false,
          })),
        ],
        scales: { x: { time: true, range: [range.start, range.end] } },
        axes: [{}, { label: unit, size: 60 }],
        legend: { live: false },
      },
      align(series),
      el.current,
    );
    return () => plot.destroy();
  }, [range]);
  return (
    <figure class="chart" data-title={title} data-series={series.length} data-points={points}>
      <figcaption>{title}</figcaption>
      {points === 0 ? <p class="note no-data">no data in this period</p> : <div ref={el} />}
    </figure>
  );
}
