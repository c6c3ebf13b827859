"""Folium renderers: data in, folium.Map out."""
