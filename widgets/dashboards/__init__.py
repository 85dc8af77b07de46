"""The dashboards of apps/: each a function that lays views over one LabState out on one screen.

    from ttfs_lab.widgets.dashboards import playground
    playground()            # the Yin-Yang playground, as apps/playground.ipynb shows it

What the Voilà server serving them needs is the package ``ttfs_lab_server`` (apps/voila.json
names it; kept outside ttfs_lab so the server never imports torch).
"""
