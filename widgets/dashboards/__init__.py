"""The dashboards of apps/: each a function that lays views over one LabState out on one screen.

    from ttfs_lab.widgets.dashboards import playground
    playground()            # the Yin-Yang playground, as apps/playground.ipynb shows it

``server`` holds what the Voilà server serving them needs (apps/voila.json names it).
"""
