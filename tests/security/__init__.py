"""The strict command policy against attacks, its guards against the real ffmpeg, and the work
it must keep allowing.
"""
