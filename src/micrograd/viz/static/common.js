"use strict";
// Shared by every page: its own script follows this one in the same <script> element.
const SVG_NS = "http://www.w3.org/2000/svg";

// An SVG element with these attributes (and text), appended to parent.
function make(tag, attributes, parent, text) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const key in attributes) element.setAttribute(key, attributes[key]);
  if (text !== undefined) element.textContent = text;
  parent.appendChild(element);
  return element;
}
