// Line icons for the room's controls (drawn here, 24×24, stroked in the text colour), so the
// controls look the same whatever emoji font a device has. Always beside a visible label.

const PATHS = {
  mic: "M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3z M19 11a7 7 0 0 1-14 0 M12 18v3 M8 21h8",
  micOff: "M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3z M19 11a7 7 0 0 1-14 0 M12 18v3 M8 21h8 M3 3l18 18",
  hand: "M7 12V5.5a1.5 1.5 0 0 1 3 0V11 M10 11V4a1.5 1.5 0 0 1 3 0v7 M13 11V5a1.5 1.5 0 0 1 3 0v7 M16 12V8a1.5 1.5 0 0 1 3 0v6a8 8 0 0 1-8 8h-.5a6 6 0 0 1-4.8-2.4l-2.5-3.4a1.5 1.5 0 0 1 2.4-1.8L7 16",
  smile: "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20z M8 14s1.5 2 4 2 4-2 4-2 M9 9h.01 M15 9h.01",
  share: "M4 13v7h16v-7 M12 3v12 M7 8l5-5 5 5",
  link: "M10 14a4.5 4.5 0 0 0 6.4 0l3-3a4.5 4.5 0 0 0-6.4-6.4l-1 1 M14 10a4.5 4.5 0 0 0-6.4 0l-3 3a4.5 4.5 0 0 0 6.4 6.4l1-1",
  leave: "M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4 M16 17l5-5-5-5 M21 12H9",
  stop: "M6 6h12v12H6z",
  down: "M12 4v15 M5 12l7 7 7-7",
  flag: "M5 22V3 M5 3h13l-2.5 4.5L18 12H5",
  play: "M7 4l13 8-13 8z",
  more: "M5 12h.01 M12 12h.01 M19 12h.01",
  rec: "M12 4a8 8 0 1 0 0 16 8 8 0 0 0 0-16z M12 9a3 3 0 1 0 0 6 3 3 0 0 0 0-6z",
  recOff: "M12 4a8 8 0 1 0 0 16 8 8 0 0 0 0-16z M6.3 6.3l11.4 11.4",
};

const SVG = "http://www.w3.org/2000/svg";

export function icon(name, className = "icon") {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", className);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", PATHS[name]);
  svg.append(path);
  return svg;
}
