"""Pictures of a site for safety officers: floor plans and zones drawn on camera images.

Modules (import the one you need; ``plan`` loads matplotlib, ``overlay`` only OpenCV):

- ``plan``: the floor plan to scale (``render_plan``, ``save_plan``, ``PlanRenderer`` that
  redraws live tracks on a cached plan); ``plan_figure`` holds its matplotlib drawing;
- ``overlay``: the zones projected into one camera's image (``draw_zones_on_image``);
- ``tracks``: the floor → plan pixel transform and live tracks drawn with OpenCV;
- ``scene``: camera footprints and centres, robot marks, zone drawing order;
- ``reach``: an upper bound of a robot's reach from its DH/URDF geometry;
- ``labels``: placing zone ids inside their zones without overlaps;
- ``colours``: one colour per zone type and for robots, cameras and tracks;
- ``images``: writing PNG/JPEG files.
"""
