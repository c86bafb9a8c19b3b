"""_continuity"""
