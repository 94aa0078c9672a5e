"""The fictional market behind the demo world: brands, products, reviews, posts and jobs.

Every page of every site and the committed ``ground_truth.json`` are generated from this module,
so the two can never drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MARKET_TOPIC = "smart thermostats and home climate devices"

GEOFENCING = "Geofencing"
VOICE = "Voice assistant support"
ENERGY = "Energy reports"
HUMIDITY = "Humidity sensing"
MATTER = "Matter support"
OCCUPANCY = "Occupancy detection"
ZONES = "Multi-zone scheduling"
REMOTE = "Remote access"
AIR = "Air quality monitoring"
LEARNING = "Learning schedule"
ALERTS = "Smart alerts"
WINDOW = "Open-window detection"

ALL_FEATURES: tuple[str, ...] = (
    GEOFENCING,
    VOICE,
    ENERGY,
    HUMIDITY,
    MATTER,
    OCCUPANCY,
    ZONES,
    REMOTE,
    AIR,
    LEARNING,
    ALERTS,
    WINDOW,
)


@dataclass(frozen=True)
class Product:
    """One product (or subscription plan) a brand sells."""

    slug: str
    name: str
    kind: str
    price: float
    features: tuple[str, ...]
    rating: float
    review_count: int
    blurb: str
    unit: str | None = None


@dataclass(frozen=True)
class Review:
    """One customer review shown on a site's reviews page."""

    product: str
    author: str
    rating: int
    sentiment: str
    title: str
    text: str
    date: str


@dataclass(frozen=True)
class BlogPost:
    """A dated blog post; ``stale_product``/``stale_price`` mark an outdated price claim."""

    slug: str
    title: str
    date: str
    paragraphs: tuple[str, ...]
    stale_product: str | None = None
    stale_price: float | None = None


@dataclass(frozen=True)
class Job:
    """An open position on a careers page (the salary is not a product price)."""

    title: str
    location: str
    salary_low: int
    salary_high: int


@dataclass(frozen=True)
class Hostile:
    """A deliberately awkward endpoint or link, and where a normal page links to it.

    ``path`` is site-relative when it starts with ``/``; otherwise it is an absolute href.
    ``target`` is ``"site"`` (this site), ``"outside"`` (the outside site) or ``"href"``.
    """

    kind: str
    path: str
    expected: str
    linked_from: str
    label: str
    target: str = "site"
    extra: str = ""


@dataclass(frozen=True)
class Site:
    """One competitor brand and its web site."""

    slug: str
    brand: str
    currency: str
    tagline: str
    about: tuple[str, ...]
    products: tuple[Product, ...]
    reviews: tuple[Review, ...]
    posts: tuple[BlogPost, ...]
    jobs: tuple[Job, ...]
    hostile: tuple[Hostile, ...] = ()
    robots_disallow: tuple[str, ...] = ()
    founded: int = 2015
    city: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def product(self, name: str) -> Product:
        """The product called ``name``."""
        for p in self.products:
            if p.name == name:
                return p
        raise KeyError(name)


METADATA_IP = "http://169.254.169.254/latest/meta-data/"

NESTWELL = Site(
    slug="nestwell",
    brand="Nestwell",
    currency="USD",
    tagline="Comfort that learns you.",
    city="Portland, Oregon",
    founded=2014,
    about=(
        "Nestwell was founded in 2014 by two HVAC engineers who were tired of thermostats that "
        "looked like calculators.",
        "Today our devices keep more than two million homes across North America comfortable "
        "while trimming heating and cooling bills.",
    ),
    products=(
        Product(
            "aura-thermostat",
            "Nestwell Aura Thermostat",
            "thermostat",
            229.00,
            (GEOFENCING, VOICE, ENERGY, LEARNING, REMOTE),
            4.6,
            1284,
            "Our flagship learning thermostat with a glass ring display.",
        ),
        Product(
            "aura-thermostat-lite",
            "Nestwell Aura Thermostat Lite",
            "thermostat",
            149.00,
            (VOICE, ENERGY, REMOTE),
            4.2,
            512,
            "The essentials of Aura in a smaller, plastic body.",
        ),
        Product(
            "room-sensor",
            "Nestwell Room Sensor",
            "sensor",
            39.00,
            (HUMIDITY, OCCUPANCY, MATTER),
            4.4,
            307,
            "Balance the temperature of the rooms that matter most.",
        ),
        Product(
            "climate-hub-pro-kit",
            "Nestwell Climate Hub Pro Kit",
            "kit",
            1299.00,
            (ZONES, GEOFENCING, MATTER, ENERGY, HUMIDITY, AIR),
            4.7,
            88,
            "Whole-home zoning: one hub, four sensors, two smart vents, pro installation.",
        ),
        Product(
            "premium-monitoring",
            "Nestwell Premium Monitoring",
            "plan",
            9.00,
            (ALERTS, ENERGY, REMOTE),
            4.1,
            203,
            "Round-the-clock system monitoring and furnace fault alerts.",
            unit="month",
        ),
    ),
    reviews=(
        Review(
            "Nestwell Aura Thermostat",
            "Dana R.",
            5,
            "positive",
            "Paid for itself in one winter",
            "The Nestwell Aura Thermostat is fantastic. Setup took ten minutes and our gas bill "
            "dropped noticeably. I love the energy reports.",
            "2024-02-11",
        ),
        Review(
            "Nestwell Aura Thermostat Lite",
            "Marcus T.",
            2,
            "negative",
            "Keeps dropping off Wi-Fi",
            "My Nestwell Aura Thermostat Lite disconnects every few days and support was slow "
            "and unhelpful. Disappointing and frustrating.",
            "2024-01-29",
        ),
        Review(
            "Nestwell Room Sensor",
            "Priya K.",
            3,
            "mixed",
            "Good sensor, short battery life",
            "The Nestwell Room Sensor is accurate and the nursery finally stays warm, but the "
            "battery died after four months, which is annoying.",
            "2023-12-05",
        ),
        Review(
            "Nestwell Climate Hub Pro Kit",
            "Glen H.",
            5,
            "positive",
            "Every room finally even",
            "Excellent system. The Nestwell Climate Hub Pro Kit fixed our cold upstairs "
            "bedrooms and the installers were great.",
            "2024-03-02",
        ),
        Review(
            "Nestwell Premium Monitoring",
            "Ruth A.",
            1,
            "negative",
            "Not worth the money",
            "Nestwell Premium Monitoring never warned me when my furnace failed. Useless, "
            "cancelled after two months.",
            "2024-02-20",
        ),
        Review(
            "Nestwell Aura Thermostat",
            "Owen P.",
            4,
            "positive",
            "Beautiful and smart",
            "Really happy with the Nestwell Aura Thermostat. Geofencing works great and it "
            "looks gorgeous on the wall.",
            "2024-03-15",
        ),
    ),
    posts=(
        BlogPost(
            "holiday-sale-2022",
            "Holiday sale: our biggest discount ever",
            "2022-11-03",
            (
                "The holidays are here and so is our biggest sale of the year.",
                "For a limited time the Nestwell Aura Thermostat is now only $199 — grab one for "
                "every floor before the offer ends on December 31.",
                "Free shipping on all orders over $50.",
            ),
            stale_product="Nestwell Aura Thermostat",
            stale_price=199.00,
        ),
        BlogPost(
            "matter-update",
            "Matter support arrives on the Room Sensor",
            "2024-01-18",
            (
                "A free firmware update brings Matter support to the Nestwell Room Sensor.",
                "The update rolls out automatically over the next two weeks.",
            ),
        ),
        BlogPost(
            "winter-energy-tips",
            "Five ways to cut your heating bill this winter",
            "2024-02-06",
            (
                "Lower the setpoint by two degrees at night and let geofencing handle the rest.",
                "Check your energy reports monthly; they show which days cost you the most.",
                "Seal drafty windows and doors before the cold sets in.",
            ),
        ),
    ),
    jobs=(
        Job("Senior Firmware Engineer", "Portland, OR (hybrid)", 120000, 140000),
        Job("Product Designer", "Remote (US)", 105000, 125000),
        Job("Customer Support Specialist", "Austin, TX", 48000, 56000),
    ),
    hostile=(
        Hostile(
            "missing_page",
            "/products/aura-thermostat-gen1",
            "not_found",
            "/products",
            "Aura Thermostat (1st generation)",
        ),
        Hostile(
            "prompt_injection",
            "/deals/partner-exclusive",
            "injection",
            "/",
            "Partner exclusive deal",
        ),
        Hostile(
            "outside_link",
            "/guides/best-smart-thermostats",
            "outside_allow_list",
            "/blog",
            "Independent buyer's guide",
            target="outside",
        ),
        Hostile(
            "external_image",
            "https://cdn.example.com/nestwell/hero.png",
            "outside_allow_list",
            "/",
            "Nestwell hero image",
            target="href",
        ),
        Hostile(
            "mailto_link", "mailto:sales@nestwell.example", "blocked_scheme", "/about", "Email"
        ),
        Hostile("tel_link", "tel:+1-503-555-0142", "blocked_scheme", "/about", "Call us"),
    ),
    robots_disallow=("/cart/", "/account/"),
)

KLIMACRAFT = Site(
    slug="klimacraft",
    brand="KlimaCraft",
    currency="EUR",
    tagline="Deutsche Präzision für Ihr Raumklima.",
    city="Stuttgart, Germany",
    founded=2009,
    about=(
        "KlimaCraft GmbH builds heating controls in Stuttgart since 2009.",
        "Our thermostats are designed for radiator and underfloor systems common in European "
        "homes, and every unit is tested in our own climate chamber.",
    ),
    products=(
        Product(
            "therm-5",
            "KlimaCraft Therm 5",
            "thermostat",
            249.00,
            (GEOFENCING, WINDOW, ENERGY, ZONES, MATTER),
            4.5,
            640,
            "Our reference thermostat for radiators and underfloor heating.",
        ),
        Product(
            "therm-5-compact",
            "KlimaCraft Therm 5 Compact",
            "thermostat",
            179.00,
            (WINDOW, ENERGY, REMOTE),
            4.0,
            221,
            "The Therm 5 for small flats, battery powered.",
        ),
        Product(
            "smart-vent-v2",
            "KlimaCraft Smart Vent V2",
            "vent",
            89.90,
            (ZONES, REMOTE, MATTER),
            3.8,
            97,
            "A motorised vent for ducted systems.",
        ),
        Product(
            "raumsensor-duo",
            "KlimaCraft Raumsensor Duo",
            "sensor",
            49.95,
            (HUMIDITY, AIR, OCCUPANCY),
            4.3,
            154,
            "Two-in-one room sensor for humidity and air quality.",
        ),
        Product(
            "komfort-abo",
            "KlimaCraft Komfort Abo",
            "plan",
            4.99,
            (ALERTS, ENERGY),
            3.9,
            61,
            "Monthly subscription with heating reports and mould alerts.",
            unit="month",
        ),
    ),
    reviews=(
        Review(
            "KlimaCraft Therm 5",
            "Jürgen W.",
            5,
            "positive",
            "Excellent build quality",
            "The KlimaCraft Therm 5 is excellent. Open-window detection works perfectly and the "
            "app is great.",
            "2024-01-10",
        ),
        Review(
            "KlimaCraft Smart Vent V2",
            "Sabine M.",
            1,
            "negative",
            "Loud and broke quickly",
            "The KlimaCraft Smart Vent V2 is terribly loud and broke after six weeks. Awful.",
            "2023-11-22",
        ),
        Review(
            "KlimaCraft Therm 5 Compact",
            "Lukas B.",
            3,
            "mixed",
            "Fine, but batteries",
            "The KlimaCraft Therm 5 Compact does its job and looks nice, but it eats batteries "
            "and the display is hard to read.",
            "2024-02-03",
        ),
        Review(
            "KlimaCraft Raumsensor Duo",
            "Anna F.",
            4,
            "positive",
            "Great humidity warnings",
            "Very happy with the KlimaCraft Raumsensor Duo, it warned us about damp in the "
            "bathroom. Recommended.",
            "2024-02-27",
        ),
        Review(
            "KlimaCraft Komfort Abo",
            "Peter S.",
            2,
            "negative",
            "Reports are useless",
            "The KlimaCraft Komfort Abo reports are vague and the mould alerts were wrong twice. "
            "Poor value.",
            "2024-03-08",
        ),
    ),
    posts=(
        BlogPost(
            "fruehjahrsaktion-2023",
            "Spring promotion on the Therm 5",
            "2023-02-14",
            (
                "Spring is coming, and so is our spring promotion.",
                "Until the end of March the KlimaCraft Therm 5 is now only 219,00 € in our shop "
                "and at selected installers.",
            ),
            stale_product="KlimaCraft Therm 5",
            stale_price=219.00,
        ),
        BlogPost(
            "heizkosten-sparen",
            "Saving on heating costs with open-window detection",
            "2024-01-25",
            (
                "Airing a room with the radiator on wastes a surprising amount of energy.",
                "Open-window detection pauses heating automatically until the window is closed.",
            ),
        ),
    ),
    jobs=(
        Job("Embedded Software Engineer (m/w/d)", "Stuttgart", 65000, 80000),
        Job("Technical Sales Manager (m/w/d)", "Munich", 70000, 85000),
    ),
    hostile=(
        Hostile(
            "redirect_loop",
            "/aktion/a",
            "redirect_loop",
            "/",
            "Aktuelle Aktion",
            extra="/aktion/b",
        ),
        Hostile(
            "robots_disallowed",
            "/intern/preisliste-entwurf",
            "robots_disallowed",
            "/preise",
            "Price list draft (internal)",
        ),
        Hostile("file_link", "file:///etc/passwd", "blocked_scheme", "/impressum", "Local manual"),
        Hostile("metadata_link", METADATA_IP, "blocked_address", "/impressum", "Service status"),
        Hostile(
            "outside_link",
            "/",
            "outside_allow_list",
            "/ueber-uns",
            "Press review: Climate Gadget Review",
            target="outside",
        ),
    ),
    robots_disallow=("/intern/",),
)

HEATHERLY = Site(
    slug="heatherly",
    brand="Heatherly Home",
    currency="GBP",
    tagline="Warm homes, thoughtfully made in Britain.",
    city="Leeds, United Kingdom",
    founded=2011,
    about=(
        "Heatherly Home is a family business from Leeds, making heating controls for British "
        "homes since 2011.",
        "We design for draughty Victorian terraces as much as for new builds.",
    ),
    products=(
        Product(
            "hearth-thermostat",
            "Heatherly Hearth Thermostat",
            "thermostat",
            199.00,
            (GEOFENCING, VOICE, LEARNING, ENERGY),
            4.3,
            410,
            "A handsome thermostat that learns when you are home.",
        ),
        Product(
            "hearth-mini",
            "Heatherly Hearth Mini",
            "thermostat",
            129.00,
            (VOICE, REMOTE),
            3.9,
            175,
            "A compact thermostat for flats and small homes.",
        ),
        Product(
            "damp-guard-sensor",
            "Heatherly Damp Guard Sensor",
            "sensor",
            45.00,
            (HUMIDITY, ALERTS, WINDOW),
            4.6,
            233,
            "Warns you before condensation turns into mould.",
        ),
        Product(
            "care-plan",
            "Heatherly Care Plan",
            "plan",
            3.50,
            (ALERTS, REMOTE, ENERGY),
            4.0,
            58,
            "Boiler health checks and priority support, billed monthly.",
            unit="month",
        ),
    ),
    reviews=(
        Review(
            "Heatherly Hearth Thermostat",
            "Eleanor G.",
            5,
            "positive",
            "Lovely thing",
            "Absolutely love the Heatherly Hearth Thermostat. Brilliant app and the house is "
            "always warm when we get home.",
            "2024-01-14",
        ),
        Review(
            "Heatherly Hearth Mini",
            "Tom B.",
            2,
            "negative",
            "Poor app",
            "The Heatherly Hearth Mini is a letdown. The app crashes constantly and the "
            "schedule is unreliable. Would not buy again.",
            "2023-12-18",
        ),
        Review(
            "Heatherly Damp Guard Sensor",
            "Fiona McL.",
            5,
            "positive",
            "Saved our bedroom walls",
            "The Heatherly Damp Guard Sensor is brilliant, it caught damp early. Excellent value.",
            "2024-02-09",
        ),
        Review(
            "Heatherly Care Plan",
            "Raj P.",
            3,
            "mixed",
            "Helpful but pricey",
            "The Heatherly Care Plan engineer was helpful, but the checks feel basic and the "
            "monthly fee adds up.",
            "2024-03-01",
        ),
    ),
    posts=(
        BlogPost(
            "autumn-offer-2021",
            "Our autumn offer is here",
            "2021-10-20",
            (
                "Get ready for the cold months: the Heatherly Hearth Thermostat is now only "
                "£169 until Bonfire Night.",
                "Installation by one of our approved engineers is available across England and "
                "Wales.",
            ),
            stale_product="Heatherly Hearth Thermostat",
            stale_price=169.00,
        ),
        BlogPost(
            "condensation-season",
            "Condensation season: keeping mould at bay",
            "2023-11-07",
            (
                "Humidity sensing helps you spot damp rooms before the mould appears.",
                "Open a window for ten minutes after a shower and keep heating steady.",
            ),
        ),
        BlogPost(
            "boiler-flow-temperature",
            "Why you should lower your boiler flow temperature",
            "2024-02-15",
            ("A lower flow temperature lets condensing boilers run efficiently.",),
        ),
    ),
    jobs=(
        Job("Heating Engineer", "Leeds", 34000, 42000),
        Job("Mobile App Developer", "Manchester (hybrid)", 55000, 68000),
    ),
    hostile=(
        Hostile(
            "slow_page",
            "/stock/live-availability",
            "timeout",
            "/products",
            "Check live stock availability",
        ),
        Hostile(
            "pdf_download",
            "/downloads/heatherly-brochure-2024.pdf",
            "non_html",
            "/products",
            "Download our 2024 brochure (PDF)",
        ),
        Hostile(
            "javascript_link",
            "javascript:alert('hello')",
            "blocked_scheme",
            "/about",
            "Open chat",
        ),
    ),
    robots_disallow=("/basket/",),
)

AMBIENTLY = Site(
    slug="ambiently",
    brand="Ambiently",
    currency="USD",
    tagline="Climate, quietly handled.",
    city="Boulder, Colorado",
    founded=2019,
    about=(
        "Ambiently is a venture-backed startup building climate devices that talk Matter out "
        "of the box.",
        "We are a team of 40 people spread across three time zones.",
    ),
    products=(
        Product(
            "halo-thermostat",
            "Ambiently Halo Thermostat",
            "thermostat",
            189.99,
            (GEOFENCING, MATTER, VOICE, ENERGY),
            4.4,
            932,
            "A minimalist touch thermostat that disappears on your wall.",
        ),
        Product(
            "halo-sensor",
            "Ambiently Halo Sensor",
            "sensor",
            59.99,
            (HUMIDITY, OCCUPANCY, MATTER),
            4.1,
            288,
            "Temperature, humidity and presence in a puck.",
        ),
        Product(
            "airflow-vent",
            "Ambiently AirFlow Vent",
            "vent",
            79.99,
            (ZONES, MATTER, REMOTE),
            3.6,
            121,
            "Smart register vent that balances airflow room by room.",
        ),
        Product(
            "premium-monitoring",
            "Ambiently Premium Monitoring",
            "plan",
            7.99,
            (ALERTS, ENERGY, AIR),
            4.2,
            340,
            "Air quality insights and HVAC alerts for the whole home.",
            unit="month",
        ),
    ),
    reviews=(
        Review(
            "Ambiently Halo Thermostat",
            "Chris V.",
            5,
            "positive",
            "Matter just works",
            "The Ambiently Halo Thermostat paired with everything instantly. Great design, "
            "great app, love it.",
            "2024-02-01",
        ),
        Review(
            "Ambiently AirFlow Vent",
            "Jess L.",
            2,
            "negative",
            "Rattles and whistles",
            "The Ambiently AirFlow Vent rattles at night and the motor failed twice. Bad "
            "experience.",
            "2024-01-19",
        ),
        Review(
            "Ambiently Halo Sensor",
            "Mo A.",
            3,
            "mixed",
            "Accurate, ugly",
            "The Ambiently Halo Sensor is accurate and cheap, but the presence detection is "
            "hit-and-miss.",
            "2023-12-30",
        ),
        Review(
            "Ambiently Premium Monitoring",
            "Kate S.",
            4,
            "positive",
            "Useful air quality alerts",
            "Ambiently Premium Monitoring flagged high CO2 in our office. Helpful and worth it.",
            "2024-03-11",
        ),
    ),
    posts=(
        BlogPost(
            "launch-promo",
            "Launch week promo",
            "2022-06-01",
            (
                "To celebrate launch week the Ambiently Halo Thermostat is now only USD 149.99 "
                "for early adopters.",
                "Thanks to everyone who backed us from day one.",
            ),
            stale_product="Ambiently Halo Thermostat",
            stale_price=149.99,
        ),
        BlogPost(
            "matter-explained",
            "Matter, explained in five minutes",
            "2023-09-12",
            (
                "Matter is a shared standard so your devices work with any assistant.",
                "All Ambiently devices support Matter out of the box.",
            ),
        ),
    ),
    jobs=(
        Job("Staff Backend Engineer", "Remote (US)", 170000, 195000),
        Job("Growth Marketing Lead", "Boulder, CO", 110000, 130000),
        Job("Hardware Test Technician", "Boulder, CO", 62000, 70000),
    ),
    hostile=(
        Hostile(
            "oversized_page",
            "/archive/catalog-full",
            "too_large",
            "/blog",
            "Full catalog archive (all SKUs since 2019)",
        ),
        Hostile(
            "mailto_link", "mailto:hello@ambiently.example", "blocked_scheme", "/", "Say hello"
        ),
        Hostile("tel_link", "tel:+1-720-555-0199", "blocked_scheme", "/about", "Phone"),
        Hostile("metadata_link", METADATA_IP, "blocked_address", "/careers", "Engineering wiki"),
    ),
    robots_disallow=("/api/internal/",),
)

ZEPHYR = Site(
    slug="zephyr",
    brand="Zephyr Climate",
    currency="EUR",
    tagline="Fresh air, perfect warmth.",
    city="Lyon, France",
    founded=2016,
    about=(
        "Zephyr Climate is a Lyon-based company designing thermostats and ventilation "
        "controls for apartments.",
        "We sell in France, Belgium, the Netherlands and Spain.",
    ),
    products=(
        Product(
            "breeze-thermostat",
            "Zephyr Breeze Thermostat",
            "thermostat",
            219.00,
            (GEOFENCING, MATTER, LEARNING, HUMIDITY, ENERGY),
            4.5,
            376,
            "An elegant thermostat with a built-in humidity sensor.",
        ),
        Product(
            "breeze-thermostat-max",
            "Zephyr Breeze Thermostat Max",
            "thermostat",
            329.00,
            (GEOFENCING, MATTER, LEARNING, HUMIDITY, ENERGY, AIR, ZONES, VOICE),
            4.7,
            142,
            "Everything in Breeze plus air quality and multi-zone control.",
        ),
        Product(
            "smart-vent",
            "Zephyr Smart Vent",
            "vent",
            69.00,
            (ZONES, REMOTE),
            3.4,
            77,
            "A quiet motorised vent for ducted apartments.",
        ),
        Product(
            "premium-monitoring",
            "Zephyr Premium Monitoring",
            "plan",
            5.99,
            (ALERTS, ENERGY, REMOTE),
            4.0,
            95,
            "Monthly energy coaching and alerts.",
            unit="month",
        ),
    ),
    reviews=(
        Review(
            "Zephyr Breeze Thermostat",
            "Camille D.",
            5,
            "positive",
            "Superb",
            "The Zephyr Breeze Thermostat is superb: elegant, accurate and the humidity "
            "readings are great.",
            "2024-02-18",
        ),
        Review(
            "Zephyr Smart Vent",
            "Hugo R.",
            1,
            "negative",
            "Never worked properly",
            "The Zephyr Smart Vent never worked properly and the support was terrible. Returned "
            "it.",
            "2024-01-07",
        ),
        Review(
            "Zephyr Breeze Thermostat Max",
            "Lotte V.",
            3,
            "mixed",
            "Powerful but complicated",
            "The Zephyr Breeze Thermostat Max has great features, but the setup is complicated "
            "and the manual is confusing.",
            "2024-03-04",
        ),
        Review(
            "Zephyr Premium Monitoring",
            "Marta G.",
            4,
            "positive",
            "Good coaching",
            "Zephyr Premium Monitoring gave us useful tips and we saved energy. Good value.",
            "2024-02-25",
        ),
    ),
    posts=(
        BlogPost(
            "offre-printemps-2023",
            "Spring offer on the Breeze",
            "2023-03-09",
            (
                "Good news for spring: the Zephyr Breeze Thermostat is now only €199,00 in our "
                "online shop.",
                "The offer is valid while stocks last.",
            ),
            stale_product="Zephyr Breeze Thermostat",
            stale_price=199.00,
        ),
        BlogPost(
            "ventilation-guide",
            "A short guide to apartment ventilation",
            "2023-10-16",
            ("Good ventilation keeps humidity in check and air fresh.",),
        ),
        BlogPost(
            "max-launch",
            "Introducing the Breeze Thermostat Max",
            "2024-01-22",
            ("Our most capable thermostat adds air quality monitoring and zoning.",),
        ),
    ),
    jobs=(
        Job("Ingénieur logiciel embarqué", "Lyon", 48000, 58000),
        Job("Customer Success Manager", "Amsterdam", 52000, 60000),
    ),
    hostile=(
        Hostile(
            "pdf_download",
            "/media/zephyr-catalogue.pdf",
            "non_html",
            "/a-propos",
            "Catalogue (PDF)",
        ),
        Hostile(
            "external_image",
            "https://cdn.example.com/x.png",
            "outside_allow_list",
            "/",
            "Banner",
            target="href",
        ),
        Hostile("file_link", "file:///etc/passwd", "blocked_scheme", "/a-propos", "Config"),
        Hostile(
            "outside_link",
            "/deals",
            "outside_allow_list",
            "/",
            "Deals on Climate Gadget Review",
            target="outside",
        ),
    ),
    robots_disallow=("/panier/",),
)

SITES: tuple[Site, ...] = (NESTWELL, KLIMACRAFT, HEATHERLY, AMBIENTLY, ZEPHYR)

JS_ONLY: tuple[dict[str, str], ...] = (
    {"site": "nestwell", "path": "/pricing", "what": "prices"},
    {"site": "ambiently", "path": "/pricing", "what": "prices"},
    {"site": "ambiently", "path": "/shop", "what": "links"},
)
