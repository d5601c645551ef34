"""p99 latency against delivered rate, chatsite (on daphne and on uvicorn) and its
peers (the bare Channels consumer, python-socketio), as a PNG
drawn with Pillow (already a dependency): one panel per workload."""

from pathlib import Path

from PIL import Image, ImageDraw

# The report's keys (bench/run.py), in the legend's order, and the names shown.
COLORS = {"chatsite": (31, 119, 180), "chatsite_uvicorn": (44, 160, 44), "bare": (214, 39, 40), "sio": (148, 103, 189)}
NAMES = {"chatsite": "chatsite on daphne", "chatsite_uvicorn": "chatsite on uvicorn", "bare": "bare Channels",
         "sio": "python-socketio"}
WIDTH, HEIGHT, PAD = 560, 380, 60
LIMIT_MS = 250


def _panel(draw: ImageDraw.ImageDraw, left: int, title: str, series: dict) -> None:
    points = [p for values in series.values() for p in values]
    max_x = max([p[0] for p in points] + [1000]) * 1.1
    max_y = max([min(p[1], 1000) for p in points] + [LIMIT_MS]) * 1.15
    x0, y0, x1, y1 = left + PAD, PAD, left + WIDTH - 20, HEIGHT - PAD

    def xy(x, y):
        return x0 + (x1 - x0) * x / max_x, y1 - (y1 - y0) * min(y, max_y) / max_y

    draw.rectangle([x0, y0, x1, y1], outline=(0, 0, 0))
    draw.text((x0, 20), title, fill=(0, 0, 0))
    draw.text((x0, y1 + 28), "delivered per second", fill=(0, 0, 0))
    draw.text((left + 4, y0 - 16), "p99 ms", fill=(0, 0, 0))
    for i in range(6):
        x_value, y_value = max_x * i / 5, max_y * i / 5
        gx, _ = xy(x_value, 0)
        _, gy = xy(0, y_value)
        draw.line([gx, y1, gx, y1 + 4], fill=(0, 0, 0))
        draw.text((gx - 14, y1 + 8), f"{x_value:,.0f}", fill=(0, 0, 0))
        draw.line([x0 - 4, gy, x0, gy], fill=(0, 0, 0))
        draw.text((left + 8, gy - 6), f"{y_value:,.0f}", fill=(0, 0, 0))
    _, ly = xy(0, LIMIT_MS)
    for dash in range(int(x0), int(x1), 12):
        draw.line([dash, ly, min(dash + 6, x1), ly], fill=(120, 120, 120))
    draw.text((x1 - 90, ly - 14), "p99 limit 250", fill=(90, 90, 90))
    for row, (name, values) in enumerate(series.items()):
        color = COLORS[name]
        coords = [xy(x, y) for x, y in values]
        if len(coords) > 1:
            draw.line(coords, fill=color, width=2)
        for cx, cy in coords:
            draw.ellipse([cx - 3, cy - 3, cx + 3, cy + 3], fill=color)
        draw.text((x0 + 10, y0 + 10 + row * 14), NAMES.get(name, name), fill=color)


def plot(report: dict, target: Path) -> None:
    image = Image.new("RGB", (WIDTH * 2, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    for index, workload in enumerate(("50x10", "5x200")):
        series = {}
        for name in COLORS:
            found = report.get(name, {}).get("workloads", {}).get(workload)
            if found:
                series[name] = [(s["delivered_per_s"], s["p99_ms"]) for s in found["steps"]]
        rooms, members = workload.split("x")
        _panel(draw, index * WIDTH, f"{rooms} rooms x {members} listeners", series)
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target)
