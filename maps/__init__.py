"""Folium renderers: data in, folium.Map out.

`four_colour` draws the regional 红橙黄蓝 four-colour map (internal and public versions), `print` the
static PNG/PDF for the wall (上墙), and `assets` keeps every script and stylesheet on our own server:
the npm packages of maps/package.json, installed by scripts/setup.sh and served by `assets.mount()`.
"""
